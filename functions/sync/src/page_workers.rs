//! The threads a sync parses and stores its pages on, at the lowest CPU priority. The fetch that
//! asks Salesforce for the next page is what a sync waits on; page work that competes with it (or
//! with the requests the local stack serves, or with the org itself on a shared machine) only
//! makes every page arrive later. At nice 19 it takes the CPU that nothing else wants.

/// A runtime of their own: its workers, and the blocking threads a store write uses, all start at
/// nice 19 (raising a thread's priority back needs privileges, so they are never shared).
#[derive(Debug)]
pub(crate) struct PageWorkers {
    /// `None` where it could not be built: pages then run beside everything else.
    runtime: Option<tokio::runtime::Runtime>,
}

impl PageWorkers {
    pub(crate) fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name("sync-pages")
            .on_thread_start(lowest_priority)
            .enable_all()
            .build()
            .inspect_err(|err| tracing::warn!(error = %err, "no page workers; pages share the sync's threads"))
            .ok();
        Self { runtime }
    }

    pub(crate) fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        }
    }
}

impl Drop for PageWorkers {
    fn drop(&mut self) {
        // Without waiting: a context may be dropped inside another runtime, where blocking panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread to nice 19 (a thread's own setting on Linux); elsewhere, nothing.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::setpriority_process(Some(rustix::thread::gettid()), 19) {
        tracing::debug!(error = %err, "a page worker kept its priority");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("the thread's own priority")
    }

    #[tokio::test]
    async fn page_work_runs_at_nice_19_and_leaves_the_caller_as_it_was() {
        let before = own_nice();
        let workers = PageWorkers::new();
        let on_worker = workers.spawn(async { own_nice() }).await.unwrap();
        let on_blocking = workers.spawn(async { tokio::task::spawn_blocking(own_nice).await.unwrap() }).await.unwrap();
        assert_eq!((on_worker, on_blocking), (19, 19));
        assert_eq!(own_nice(), before);
        // Dropped inside this runtime without a panic.
        drop(workers);
    }
}
