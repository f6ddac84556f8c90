//! The one tokio runtime of the SDK. Every network task and every async
//! export runs on it: an async export spawns its work here and awaits the
//! join handle, which any executor (Kotlin coroutines, Swift tasks, Python
//! asyncio) can poll. uniffi's `async_runtime = "tokio"` would instead enter
//! a second runtime of its own (async-compat's), which is what this avoids.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Runtime};

use crate::AnpiError;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// The runtime, built on first use. Two workers: sessions are I/O-bound and
/// a phone has better uses for its cores.
pub(crate) fn runtime() -> Result<&'static Runtime, AnpiError> {
    RUNTIME
        .get_or_init(|| {
            Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("anpi-net")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| AnpiError::Network {
            detail: format!("could not start the network runtime: {e}"),
        })
}

/// Run `fut` on the runtime and wait for it from whatever executor the
/// foreign caller uses.
pub(crate) async fn on_runtime<T: Send + 'static>(
    fut: impl std::future::Future<Output = Result<T, AnpiError>> + Send + 'static,
) -> Result<T, AnpiError> {
    runtime()?
        .spawn(fut)
        .await
        .map_err(|e| AnpiError::Network {
            detail: format!("the network task stopped: {e}"),
        })?
}
