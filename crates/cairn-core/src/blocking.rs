//! Running CPU-bound or blocking work (a local model's forward pass, SQLite) from async code
//! without stalling the executor's worker threads.

/// Runs `f` on tokio's blocking pool when called inside a tokio runtime, and inline
/// otherwise (under another executor, or `futures::executor::block_on`), so a seam's async
/// method works wherever it is awaited. A panic in `f` resumes in the caller.
pub async fn run_blocking<F, T>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => match handle.spawn_blocking(f).await {
            Ok(v) => v,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Only a runtime shutting down cancels a blocking task.
            Err(e) => panic!("blocking task cancelled: {e}"),
        },
        Err(_) => f(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread")]
    async fn runs_off_the_async_thread_inside_a_runtime() {
        let here = std::thread::current().id();
        let there = run_blocking(|| std::thread::current().id()).await;
        assert_ne!(here, there);
    }

    #[test]
    fn runs_inline_outside_a_runtime() {
        let v = futures_lite_block_on(run_blocking(|| 41 + 1));
        assert_eq!(v, 42);
    }

    #[tokio::test]
    #[should_panic(expected = "boom")]
    async fn a_panic_reaches_the_caller() {
        run_blocking(|| panic!("boom")).await
    }

    /// A minimal executor with no tokio context, for the inline path.
    fn futures_lite_block_on<F: std::future::Future>(f: F) -> F::Output {
        use std::task::{Context, Poll, Waker};
        let mut f = std::pin::pin!(f);
        let mut cx = Context::from_waker(Waker::noop());
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
        }
    }
}
