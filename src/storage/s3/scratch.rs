//! The local scratch directory of the ingest's files, and the clean-up of those whose process
//! is gone.

use std::path::PathBuf;

/// A local directory for the ingest's scratch files. The process holds a lock on a file in it
/// while it runs, so a later start removes the directories whose lock is free (their process
/// is gone), whatever the process ids (a container's service is always pid 1).
#[derive(Debug)]
pub(super) struct ScratchDir {
    /// The directory.
    pub(super) path: PathBuf,
    _held: std::fs::File,
}

const SCRATCH_PREFIX: &str = "shoplake-scratch-";
const SCRATCH_LOCK: &str = ".owner.lock";

impl ScratchDir {
    /// Removes the scratch directories of processes that are gone, then creates and locks a
    /// fresh one under the system's temporary directory.
    pub(super) fn create() -> std::io::Result<Self> {
        let base = std::env::temp_dir();
        if let Ok(entries) = std::fs::read_dir(&base) {
            for entry in entries.flatten() {
                if !entry.file_name().to_string_lossy().starts_with(SCRATCH_PREFIX) {
                    continue;
                }
                let abandoned = match std::fs::File::open(entry.path().join(SCRATCH_LOCK)) {
                    Ok(lock) => lock.try_lock().is_ok(),
                    Err(_) => true, // no lock file: from a process that crashed while creating it
                };
                if abandoned {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        // Made under another name and renamed once locked, so another process's clean-up never
        // sees it without its lock.
        let name = uuid::Uuid::now_v7();
        let making = base.join(format!(".{SCRATCH_PREFIX}{name}"));
        std::fs::create_dir_all(&making)?;
        let held = std::fs::File::create(making.join(SCRATCH_LOCK))?;
        held.lock()?;
        let path = base.join(format!("{SCRATCH_PREFIX}{name}"));
        std::fs::rename(&making, &path)?;
        Ok(Self { path, _held: held })
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
