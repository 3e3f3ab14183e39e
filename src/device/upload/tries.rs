//! What a failed request of an upload means for the next try — the one place the device
//! calls (`calls`) and the part uploads (`parts`) ask: try again after a back-off while the
//! policy's tries last; past them, wait for a network that is gone without end (ever more
//! slowly, up to the policy's `offline_cap`), but give up on other failures; and never send a
//! request that creates something (an asset, a comment) a third time after its answers were
//! lost, since each lost answer may hide one that was carried out.

use std::time::Duration;

use super::retry::RetryPolicy;
use super::status::FileState;
use crate::c2c::{ClientError, Verdict};

/// What happens when a request is carried out twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Repeat {
    /// Nothing more: a part PUT to its URL, asking for real-time part URLs.
    Harmless,
    /// A second thing is made (Frame.io offers no idempotency key): creating an asset,
    /// adding a comment.
    Creates,
}

/// The next step after a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Retry {
    /// Try again after `wait`, the file showing `state`.
    Again {
        /// How long to wait first.
        wait: Duration,
        /// What the file shows meanwhile (retrying, or offline).
        state: FileState,
        /// This failure may hide a request that was carried out: what it created may exist
        /// twice once the next try succeeds.
        duplicate_possible: bool,
    },
    /// The failure is final for this request.
    GiveUp,
    /// A request that creates something lost its answer a second time: it is not sent a
    /// third time (two copies may already exist).
    LostTwice,
}

/// The tries of one request.
#[derive(Debug)]
pub(super) struct Tries {
    policy: RetryPolicy,
    repeat: Repeat,
    failures: u32,
    lost_answers: u32,
}

impl Tries {
    /// No failure yet.
    pub(super) fn new(policy: RetryPolicy, repeat: Repeat) -> Self {
        Self {
            policy,
            repeat,
            failures: 0,
            lost_answers: 0,
        }
    }

    /// True once a try failed (the next success ends a wait the user saw).
    pub(super) fn failed_before(&self) -> bool {
        self.failures > 0
    }

    /// The step after `error`, met by the request called `what` ("creating the asset").
    pub(super) fn after(&mut self, what: &str, error: &ClientError) -> Retry {
        if error.verdict() != Verdict::Retry {
            return Retry::GiveUp;
        }
        let lost = self.repeat == Repeat::Creates && error.may_have_been_done();
        if lost {
            self.lost_answers = self.lost_answers.saturating_add(1);
            if self.lost_answers > 1 {
                return Retry::LostTwice;
            }
        }
        self.failures = self.failures.saturating_add(1);
        let reason = format!("{what}: {error}");
        let (wait, state) = if self.failures < self.policy.attempts {
            let wait = self.policy.delay(self.failures, error.retry_after());
            let state = FileState::Retrying {
                attempt: self.failures,
                reason,
                wait,
            };
            (wait, state)
        } else if error.is_unreachable() {
            let wait = self
                .policy
                .offline_delay(self.failures)
                .max(error.retry_after().unwrap_or_default());
            (wait, FileState::Offline { reason, wait })
        } else {
            return Retry::GiveUp;
        };
        Retry::Again {
            wait,
            state,
            duplicate_possible: lost,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken() -> ClientError {
        ClientError::Broken {
            host: "api".into(),
            reason: "connection reset".into(),
        }
    }

    fn refused() -> ClientError {
        ClientError::Connect {
            host: "api".into(),
            reason: "connection refused".into(),
        }
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn a_network_that_is_gone_is_waited_for_without_end() {
        let mut tries = Tries::new(quick(), Repeat::Creates);
        let states: Vec<&'static str> = (0..50)
            .map(|_| match tries.after("creating the asset", &refused()) {
                Retry::Again { state, .. } => state.word(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(&states[..3], ["retrying", "retrying", "offline"]);
        assert!(states[3..].iter().all(|s| *s == "offline"));
    }

    #[test]
    fn a_creating_request_whose_answer_was_lost_goes_again_once() {
        let mut tries = Tries::new(quick(), Repeat::Creates);
        assert!(matches!(
            tries.after("creating the asset", &broken()),
            Retry::Again {
                duplicate_possible: true,
                ..
            }
        ));
        // No connection at all: nothing was created, so it may go again freely.
        for _ in 0..5 {
            assert!(matches!(
                tries.after("creating the asset", &refused()),
                Retry::Again {
                    duplicate_possible: false,
                    ..
                }
            ));
        }
        assert_eq!(
            tries.after("creating the asset", &broken()),
            Retry::LostTwice
        );
        let garbled = ClientError::Malformed("the answer is not valid JSON".into());
        let mut harmless = Tries::new(quick(), Repeat::Harmless);
        for _ in 0..2 {
            assert!(matches!(
                harmless.after("part 1", &broken()),
                Retry::Again {
                    duplicate_possible: false,
                    ..
                }
            ));
        }
        assert!(
            matches!(harmless.after("part 1", &garbled), Retry::GiveUp),
            "past its tries, a garbled answer is no outage"
        );
    }

    #[test]
    fn refusals_are_final_and_server_errors_end_after_the_tries() {
        let mut tries = Tries::new(quick(), Repeat::Harmless);
        let forbidden = ClientError::Http {
            status: 403,
            description: None,
            retry_after: None,
        };
        assert_eq!(tries.after("part 1", &forbidden), Retry::GiveUp);
        let broken_server = ClientError::Http {
            status: 500,
            description: None,
            retry_after: None,
        };
        assert!(matches!(
            tries.after("part 1", &broken_server),
            Retry::Again { .. }
        ));
        assert!(matches!(
            tries.after("part 1", &broken_server),
            Retry::Again { .. }
        ));
        assert_eq!(tries.after("part 1", &broken_server), Retry::GiveUp);
        let gateway = ClientError::Http {
            status: 503,
            description: None,
            retry_after: Some(Duration::from_secs(90)),
        };
        match tries.after("part 1", &gateway) {
            Retry::Again { wait, state, .. } => {
                assert_eq!(state.word(), "offline");
                assert!(
                    wait >= Duration::from_secs(90),
                    "Retry-After is kept: {wait:?}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}
