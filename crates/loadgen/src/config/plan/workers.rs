//! How many worker processes a run is split over (`--subscribers-per-worker`).

use crate::config::opts::{LoadOpts, Pattern};
use crate::core::error::LoadError;
use crate::core::limits::MAX_WORKERS;

/// Worker processes a run needs (0: this process holds the subscribers).
pub(crate) fn count(o: &LoadOpts) -> Result<usize, LoadError> {
    let per = o.subscribers_per_worker;
    if per == 0 {
        return Err(LoadError::InvalidOption {
            option: "subscribers-per-worker",
            reason: "must be at least 1".into(),
        });
    }
    if o.worker || o.subscribers <= per {
        return Ok(0);
    }
    let n = o.subscribers.div_ceil(per);
    if n > MAX_WORKERS {
        return Err(LoadError::InvalidOption {
            option: "subscribers-per-worker",
            reason: format!(
                "{} subscribers at {per} per process need {n} worker processes; at most {MAX_WORKERS}: raise it (or run several machines, see deploy/)",
                o.subscribers
            ),
        });
    }
    if o.pattern == Pattern::Echo {
        return Err(LoadError::InvalidOption {
            option: "subscribers-per-worker",
            reason: format!(
                "echo runs are not split over worker processes; use at most {per} subscribers or raise it"
            ),
        });
    }
    Ok(n)
}
