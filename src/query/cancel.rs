//! Stopping a query for real at its time limit. DataFusion operators loop over their inputs
//! without yielding to the scheduler while every input has a batch ready (a cross join, an
//! aggregate over a generated series), so cancelling the query's task only takes effect when
//! it ends by itself. Here every node of the physical plan reads its input through
//! [`StopOnCancel`], which ends the stream with an error once the query is cancelled: the query
//! stops within one batch of one operator.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{
    replace_children_if_necessary, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, RecordBatchStream,
    SendableRecordBatchStream,
};
use futures_util::Stream;

/// The message of the error a cancelled stream ends with.
pub const CANCELLED: &str = "the query was cancelled";

/// A cancellation flag shared by every node of one query.
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Cancels the query: its streams end at their next batch.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// `plan` with every node's output read through [`StopOnCancel`].
pub fn stop_on_cancel(plan: Arc<dyn ExecutionPlan>, cancel: &Cancel) -> Result<Arc<dyn ExecutionPlan>> {
    let children = plan
        .children()
        .into_iter()
        .map(|child| stop_on_cancel(Arc::clone(child), cancel))
        .collect::<Result<Vec<_>>>()?;
    let plan = if children.is_empty() { plan } else { replace_children_if_necessary(plan, children)? };
    Ok(Arc::new(StopOnCancel { input: plan, cancel: cancel.clone() }))
}

/// Passes its input through unchanged until the query is cancelled.
#[derive(Debug)]
pub struct StopOnCancel {
    input: Arc<dyn ExecutionPlan>,
    cancel: Cancel,
}

impl DisplayAs for StopOnCancel {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "StopOnCancel")
    }
}

impl ExecutionPlan for StopOnCancel {
    fn name(&self) -> &str {
        "StopOnCancel"
    }

    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.input.as_ref())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }

    fn with_new_children_and_same_properties(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        #[allow(deprecated)]
        self.with_new_children(children)
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children.into_iter().next().ok_or_else(|| DataFusionError::Internal("no child".into()))?;
        Ok(Arc::new(StopOnCancel { input, cancel: self.cancel.clone() }))
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        if self.cancel.is_cancelled() {
            return Err(DataFusionError::Execution(CANCELLED.into()));
        }
        let input = self.input.execute(partition, context)?;
        Ok(Box::pin(Stopping { input, cancel: self.cancel.clone(), ended: false }))
    }
}

struct Stopping {
    input: SendableRecordBatchStream,
    cancel: Cancel,
    ended: bool,
}

impl Stream for Stopping {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if self.cancel.is_cancelled() {
            self.ended = true;
            return Poll::Ready(Some(Err(DataFusionError::Execution(CANCELLED.into()))));
        }
        self.input.as_mut().poll_next(cx)
    }
}

impl RecordBatchStream for Stopping {
    fn schema(&self) -> SchemaRef {
        self.input.schema()
    }
}
