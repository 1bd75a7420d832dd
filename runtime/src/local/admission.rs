//! `MemoryReservation` admission against the server's memory capacity: an instance starts only
//! when its reservation fits beside those of the instances already admitted.

use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// Sizes in messages, in the manifest's units (`128Mi`): core's one formatting.
pub(crate) use q8s_core::quantity::binary_size as human;

/// The memory capacity shared by all instances.
pub(crate) struct Admission {
    capacity: Option<u64>,
    reserved: Mutex<u64>,
    freed: Notify,
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
            reserved: Mutex::new(0),
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
        loop {
            // Registered before the check, so that a release in between is not missed.
            let freed = self.freed.notified();
            tokio::pin!(freed);
            freed.as_mut().enable();
            {
                let mut reserved = self.lock();
                if *reserved + amount <= capacity {
                    *reserved += amount;
                    return Ok(Permit {
                        admission: Arc::clone(self),
                        amount,
                    });
                }
                if let Some(waiting) = waiting.take() {
                    waiting(format!(
                        "waiting for memory: MemoryReservation {} does not fit, {} of {} free",
                        human(amount),
                        human(capacity - *reserved),
                        human(capacity)
                    ));
                }
            }
            freed.await;
        }
    }

    fn grant(self: &Arc<Self>, amount: u64) -> Permit {
        *self.lock() += amount;
        Permit {
            admission: Arc::clone(self),
            amount,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, u64> {
        self.reserved.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut reserved = self.admission.lock();
        *reserved = reserved.saturating_sub(self.amount);
        drop(reserved);
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
        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), second)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(*admission.lock(), 128 * MI);
        drop(second);
        assert_eq!(*admission.lock(), 0);
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
