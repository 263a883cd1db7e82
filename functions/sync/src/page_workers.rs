//! The threads a sync parses and stores its pages on, at the lowest CPU priority and on one CPU.
//! The fetch that asks Salesforce for the next page is what a sync waits on; page work that
//! competes with it (or with the requests the local stack serves, or with the org itself on a
//! shared machine) only makes every page arrive later. At nice 19 it takes the CPU that nothing
//! else wants, and held to one CPU it never takes more than one, whatever its threads do at once.

/// A runtime of their own: one worker, and the blocking threads a store write uses, all at nice 19
/// (raising a thread's priority back needs privileges, so they are never shared) and on the last
/// CPU this process may use.
#[derive(Debug)]
pub(crate) struct PageWorkers {
    /// `None` where it could not be built: pages then run beside everything else.
    runtime: Option<tokio::runtime::Runtime>,
}

impl PageWorkers {
    pub(crate) fn new() -> Self {
        let cpu = page_cpu();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            // A second worker could only run beside the first on the same CPU.
            .worker_threads(1)
            .thread_name("sync-pages")
            .on_thread_start(move || {
                lowest_priority();
                if let Some(cpu) = cpu {
                    confine_to(cpu);
                }
            })
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

/// The one CPU page work runs on: the last of those this process may use, where it has more than
/// one. In interleaved runs at 100,000 Contacts + 50,000 Leads on two CPUs, page threads free to
/// move made the sync 1.26–1.29× the raw fetch; held to the last CPU, 1.13–1.16×; held to the
/// first, 1.26–1.28×. On that machine the disk's interrupts arrive on the last CPU: the store's
/// writes complete where they were issued, and the first CPU is left to the fetch.
fn page_cpu() -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let allowed = rustix::thread::sched_getaffinity(None)
            .inspect_err(|err| tracing::debug!(error = %err, "page workers run on any CPU"))
            .ok()?;
        let last = (0..rustix::thread::CpuSet::MAX_CPU).rev().find(|cpu| allowed.is_set(*cpu))?;
        (allowed.count() > 1).then_some(last)
    }
    #[cfg(not(target_os = "linux"))]
    None
}

/// Holds the calling thread to `cpu`.
#[cfg(target_os = "linux")]
fn confine_to(cpu: usize) {
    let mut only = rustix::thread::CpuSet::new();
    only.set(cpu);
    if let Err(err) = rustix::thread::sched_setaffinity(None, &only) {
        tracing::debug!(error = %err, "a page worker runs on any CPU");
    }
}

#[cfg(not(target_os = "linux"))]
fn confine_to(_cpu: usize) {}

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

    fn own_cpus() -> Vec<usize> {
        let allowed = rustix::thread::sched_getaffinity(None).expect("the thread's own CPUs");
        (0..rustix::thread::CpuSet::MAX_CPU).filter(|cpu| allowed.is_set(*cpu)).collect()
    }

    fn own_place() -> (i32, Vec<usize>) {
        (own_nice(), own_cpus())
    }

    #[tokio::test]
    async fn page_work_runs_at_nice_19_on_one_cpu_and_leaves_the_caller_as_it_was() {
        let before = own_place();
        let workers = PageWorkers::new();
        let on_worker = workers.spawn(async { own_place() }).await.unwrap();
        let on_blocking = workers.spawn(async { tokio::task::spawn_blocking(own_place).await.unwrap() }).await.unwrap();
        // The last CPU the caller may use, or the caller's only one.
        let expected = (19, before.1.last().copied().into_iter().collect::<Vec<_>>());
        assert_eq!(on_worker, expected);
        assert_eq!(on_blocking, expected);
        assert_eq!(own_place(), before);
        // Dropped inside this runtime without a panic.
        drop(workers);
    }
}
