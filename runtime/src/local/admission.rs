//! `MemoryReservation` admission against the server's memory capacity: an instance starts only
//! when its reservation fits beside those of the instances already admitted.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Sizes in messages, in the manifest's units (`128Mi`): core's one formatting.
pub(crate) use q8s_core::quantity::binary_size as human;

/// The memory capacity shared by all instances.
pub(crate) struct Admission {
    capacity: Option<u64>,
    state: Mutex<State>,
    freed: Notify,
}

/// What is admitted and what waits.
#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// Bytes the admitted instances reserve.
    reserved: u64,
    /// Instances admitted (holding a permit).
    admitted: u32,
    /// Instances waiting for memory.
    waiting: u32,
}

/// What [`Admission::snapshot`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) capacity: Option<u64>,
    pub(crate) reserved: u64,
    pub(crate) admitted: u32,
    pub(crate) waiting: u32,
}

/// Counts a waiting instance while it waits (also when its start is cancelled meanwhile).
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.waiting = state.waiting.saturating_sub(1);
    }
}

/// A granted reservation; dropping it frees the memory and wakes waiting instances.
pub(crate) struct Permit {
    admission: Arc<Admission>,
    amount: u64,
}

impl Admission {
    pub(crate) fn new(capacity: Option<u64>) -> Arc<Self> {
        Arc::new(Admission {
            capacity,
            state: Mutex::new(State::default()),
            freed: Notify::new(),
        })
    }

    /// Waits until `amount` fits. `waiting` is called once with the reason when it does not fit
    /// at once. `Err` when it can never fit.
    pub(crate) async fn acquire(
        self: &Arc<Self>,
        amount: u64,
        waiting: impl FnOnce(String),
    ) -> Result<Permit, String> {
        let Some(capacity) = self.capacity else {
            return Ok(self.grant(amount));
        };
        if amount > capacity {
            return Err(format!(
                "MemoryReservation {} is more than the server's memory capacity {}",
                human(amount),
                human(capacity)
            ));
        }
        let mut waiting = Some(waiting);
        let mut counted = None;
        loop {
            // Registered before the check, so that a release in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut state = self.lock();
                if state.reserved + amount <= capacity {
                    state.reserved += amount;
                    state.admitted += 1;
                    drop(state);
                    drop(counted);
                    return Ok(Permit {
                        admission: Arc::clone(self),
                        amount,
                    });
                }
                if let Some(waiting) = waiting.take() {
                    state.waiting += 1;
                    counted = Some(Waiting(self));
                    waiting(format!(
                        "waiting for memory: MemoryReservation {} does not fit, {} of {} free",
                        human(amount),
                        human(capacity - state.reserved),
                        human(capacity)
                    ));
                }
            }
            freed.await;
        }
    }

    /// The capacity, what is reserved and by how many instances, and how many wait.
    pub(crate) fn snapshot(&self) -> Snapshot {
        let state = *self.lock();
        Snapshot {
            capacity: self.capacity,
            reserved: state.reserved,
            admitted: state.admitted,
            waiting: state.waiting,
        }
    }

    fn grant(self: &Arc<Self>, amount: u64) -> Permit {
        let mut state = self.lock();
        state.reserved += amount;
        state.admitted += 1;
        Permit {
            admission: Arc::clone(self),
            amount,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.reserved = state.reserved.saturating_sub(self.amount);
        state.admitted = state.admitted.saturating_sub(1);
        drop(state);
        self.admission.freed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MI: u64 = 1 << 20;

    #[tokio::test]
    async fn waits_until_memory_is_freed() {
        let admission = Admission::new(Some(256 * MI));
        let first = admission
            .acquire(192 * MI, |_| panic!("fits"))
            .await
            .unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let second = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move {
                admission
                    .acquire(128 * MI, move |why| tx.send(why).unwrap())
                    .await
            }
        });
        let reason = rx.recv().await.unwrap();
        assert!(
            reason.contains("128Mi") && reason.contains("64Mi of 256Mi free"),
            "{reason}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!second.is_finished());
        let snapshot = admission.snapshot();
        assert_eq!(
            (snapshot.reserved, snapshot.admitted, snapshot.waiting),
            (192 * MI, 1, 1)
        );
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let snapshot = admission.snapshot();
        assert_eq!(
            (snapshot.reserved, snapshot.admitted, snapshot.waiting),
            (128 * MI, 1, 0)
        );
        drop(second);
        let snapshot = admission.snapshot();
        assert_eq!((snapshot.reserved, snapshot.admitted), (0, 0));
    }

    #[tokio::test]
    async fn a_start_cancelled_while_waiting_stops_counting() {
        let admission = Admission::new(Some(100 * MI));
        let _first = admission.acquire(80 * MI, |_| {}).await.unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let waiter = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move {
                admission
                    .acquire(50 * MI, move |why| tx.send(why).unwrap())
                    .await
            }
        });
        rx.recv().await.unwrap();
        assert_eq!(admission.snapshot().waiting, 1);
        waiter.abort();
        let _ = waiter.await;
        assert_eq!(admission.snapshot().waiting, 0);
    }

    #[tokio::test]
    async fn a_reservation_above_capacity_never_fits() {
        let admission = Admission::new(Some(MI));
        let err = admission.acquire(2 * MI, |_| {}).await.err().unwrap();
        assert!(err.contains("2Mi") && err.contains("1Mi"), "{err}");
        let unlimited = Admission::new(None);
        assert!(unlimited.acquire(u64::MAX / 2, |_| panic!()).await.is_ok());
    }
}
