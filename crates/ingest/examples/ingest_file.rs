//! Times `ingest` on one CSV file in-process: `cargo run --release -p shoplake-ingest --example
//! ingest_file -- FILE DATE [REPEAT] [THREADS]`. Prints the median and minimum per file in ms.
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (path, date) = (&args[1], chrono::NaiveDate::parse_from_str(&args[2], "%Y-%m-%d").expect("DATE"));
    let repeat: usize = args.get(3).map_or(20, |r| r.parse().expect("REPEAT"));
    let threads: usize = args.get(4).map_or(0, |t| t.parse().expect("THREADS"));
    let body = std::fs::read(path).expect("FILE");
    let options = shoplake_ingest::IngestOptions { threads, ..Default::default() };
    let mut times = Vec::new();
    for _ in 0..repeat {
        let started = Instant::now();
        let report = if std::env::var_os("FROM_FILE").is_some() {
            let open = || std::fs::File::open(path).map(|f| std::io::BufReader::with_capacity(1 << 20, f));
            let dir = std::env::temp_dir();
            let parquet = std::io::BufWriter::new(std::fs::File::create(dir.join("x.parquet")).unwrap());
            let rejected = std::io::BufWriter::new(std::fs::File::create(dir.join("x.rejected")).unwrap());
            shoplake_ingest::ingest_reopenable(open, date, &options, parquet, rejected).expect("ingest")
        } else {
            let (mut parquet, mut rejected) = (Vec::new(), Vec::new());
            shoplake_ingest::ingest(&body[..], date, &options, &mut parquet, &mut rejected).expect("ingest")
        };
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        assert!(report.rows_accepted > 0);
    }
    times.sort_by(f64::total_cmp);
    println!("{} bytes: median {:.2} ms, min {:.2} ms", body.len(), times[times.len() / 2], times[0]);
}
