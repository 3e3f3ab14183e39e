//! RFC 8628 polling: a pure state machine ([`Poller`]) and the loop that drives it
//! ([`poll_until_done`]) on tokio's clock, which tests can pause.
//!
//! Rules (RFC 8628 §3.5, and where Frame.io is silent, our reading of it):
//! - the first poll comes one interval after the code arrived, never at once;
//! - each poll waits at least the interval after the previous answer arrived, so a slow
//!   answer can never make two requests reach the server closer than the interval;
//! - `slow_down` adds 5 s to the interval for every later poll;
//! - network errors, timeouts, 5xx, 408 and 429 back off: twice the interval, doubling,
//!   capped at 60 s, never below the interval, and never sooner than `Retry-After`;
//! - any other error, and the local `expires_in` deadline, stop polling with a reason.

use std::fmt;
use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::{Instant, sleep_until};
use tokio_util::sync::CancellationToken;

use super::client::{ClientError, Verdict};
use super::model::{OAuthErrorCode, SLOW_DOWN_STEP, TokenResponse};
use crate::clock::Later as _;

/// Longest back-off after network or server errors (unless the server asks for longer).
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Shortest interval honoured: a server that says 0 must not make us spin.
pub const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// What the last poll said, for the status line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollStatus {
    /// Nobody has approved yet.
    Pending,
    /// The server asked us to poll less often; this is the new interval.
    SlowDown {
        /// Interval for every later poll.
        interval: Duration,
    },
    /// A network or server error; polling goes on more slowly.
    Retrying {
        /// What went wrong, in plain words.
        reason: String,
        /// How many errors in a row.
        attempt: u32,
    },
}

impl fmt::Display for PollStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pending => f.write_str("waiting for approval"),
            Self::SlowDown { interval } => write!(
                f,
                "the server asked to check less often: every {} s from now on",
                interval.as_secs_f64()
            ),
            Self::Retrying { reason, attempt } => {
                write!(f, "trouble reaching the server ({reason}); retry {attempt}")
            }
        }
    }
}

/// Why polling stopped without tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// The code expired: the server said `expired_token`, or the local deadline passed.
    Expired {
        /// The server said so (rather than our own clock).
        by_server: bool,
    },
    /// The user declined (`access_denied`), or the server would not grant the scope.
    Denied {
        /// The server's words, verbatim.
        description: Option<String>,
        /// How messages name the server, when it is not Frame.io (see [`StopReason::at`]).
        server: Option<String>,
        /// The scope that was asked for, when the server is not Frame.io.
        scope: Option<String>,
    },
    /// The server refused the device code or the client (`invalid_grant`, `invalid_client`,
    /// `invalid_request` or another OAuth code).
    Refused {
        /// The OAuth error code.
        code: OAuthErrorCode,
        /// The server's words, verbatim.
        description: Option<String>,
    },
    /// An answer pairing cannot go on from (an unexpected HTTP status such as 404).
    Failed {
        /// What went wrong, in plain words.
        message: String,
    },
    /// The code ran out while the server could not be reached or kept failing.
    Unreachable {
        /// The last problem, in plain words.
        last_error: String,
    },
}

impl StopReason {
    /// The same reason, naming the server it came from when that is not Frame.io (the poller
    /// knows no server; the caller does).
    pub fn at(self, profile: &crate::c2c::profile::Profile) -> Self {
        match self {
            Self::Denied { description, .. } if !profile.is_frame_io() && !profile.demo => {
                Self::Denied {
                    description,
                    server: Some(profile.server_name()),
                    scope: Some(profile.scope.clone()),
                }
            }
            other => other,
        }
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (text, description) = match self {
            Self::Expired { .. } => (
                "The code expired before it was approved. Get a new code and enter it \
                 in Frame.io before the countdown ends."
                    .to_owned(),
                &None,
            ),
            Self::Denied {
                description,
                server: None,
                ..
            } => (
                "Pairing was declined in Frame.io (access_denied). If that was a mistake, \
                 get a new code and approve it."
                    .to_owned(),
                description,
            ),
            Self::Denied {
                description,
                server: Some(server),
                scope,
            } => (
                format!(
                    "{server} refused pairing (access_denied). If nobody declined it there, \
                     {server} may not grant the scope asked for (\"{}\"): set the scope it \
                     grants (--scope, or scope in the configuration file), then get a new code.",
                    scope.as_deref().unwrap_or_default()
                ),
                description,
            ),
            Self::Refused { code, description } => (refusal_text(code), description),
            Self::Failed { message } => (
                format!("Pairing stopped: {message}. Check the API settings, then try again."),
                &None,
            ),
            Self::Unreachable { last_error } => (
                format!(
                    "The code ran out while the server could not be reached ({last_error}). \
                     Check the network connection and proxy settings, then get a new code."
                ),
                &None,
            ),
        };
        f.write_str(&text)?;
        if let Some(description) = description {
            write!(f, " The server said: \"{description}\"")?;
        }
        Ok(())
    }
}

fn refusal_text(code: &OAuthErrorCode) -> String {
    match code {
        OAuthErrorCode::InvalidGrant => "The server no longer accepts this code (invalid_grant): \
            it was already used or withdrawn. Get a new code."
            .to_owned(),
        OAuthErrorCode::InvalidClient => "The server rejected the client credentials \
            (invalid_client): it wants the client secret of this device model, and a device \
            id it accepts."
            .to_owned(),
        OAuthErrorCode::InvalidRequest => "The server rejected the request as malformed \
            (invalid_request). Check the endpoint paths and --body encoding for this server."
            .to_owned(),
        other => format!("The server refused pairing ({other})."),
    }
}

/// When the next poll may go out, or when the code runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Poll at this instant.
    PollAt(Instant),
    /// No poll fits before the deadline: the code expires at this instant.
    ExpireAt(Instant),
}

/// The result of feeding one answer to the [`Poller`].
#[derive(Debug)]
pub enum Step {
    /// Keep polling; the next poll goes out at `next`.
    Continue {
        /// What the answer said.
        status: PollStatus,
        /// When the next poll may go out, or when the code expires.
        next: Next,
    },
    /// Approved: here are the tokens.
    Authorized(TokenResponse),
    /// Polling is over without tokens.
    Stop(StopReason),
}

/// The RFC 8628 polling rules as a pure state machine: no I/O, no clock of its own.
#[derive(Debug, Clone)]
pub struct Poller {
    interval: Duration,
    deadline: Instant,
    next_poll_at: Instant,
    failures: u32,
    last_problem: Option<String>,
}

impl Poller {
    /// Starts polling for a code that arrived at `received_at`.
    pub fn new(received_at: Instant, expires_in: Duration, interval: Duration) -> Self {
        let interval = interval.max(MIN_INTERVAL);
        Self {
            interval,
            deadline: received_at.later(expires_in),
            next_poll_at: received_at.later(interval),
            failures: 0,
            last_problem: None,
        }
    }

    /// The interval now in force (raised by `slow_down`, never lowered).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// When the code expires by our own clock.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// When to poll next, or that no poll fits before the code expires.
    pub fn next(&self) -> Next {
        if self.next_poll_at < self.deadline {
            Next::PollAt(self.next_poll_at)
        } else {
            Next::ExpireAt(self.deadline)
        }
    }

    /// Feeds the answer to a poll that arrived at `now`.
    pub fn on_answer(&mut self, now: Instant, answer: Result<TokenResponse, ClientError>) -> Step {
        let error = match answer {
            Ok(tokens) => return Step::Authorized(tokens),
            Err(error) => error,
        };
        let status = match error {
            ClientError::OAuth {
                error: OAuthErrorCode::AuthorizationPending,
                ..
            } => {
                self.failures = 0;
                self.last_problem = None;
                self.next_poll_at = now.later(self.interval);
                PollStatus::Pending
            }
            ClientError::OAuth {
                error: OAuthErrorCode::SlowDown,
                ..
            } => {
                self.failures = 0;
                self.last_problem = None;
                self.interval = self.interval.saturating_add(SLOW_DOWN_STEP);
                self.next_poll_at = now.later(self.interval);
                PollStatus::SlowDown {
                    interval: self.interval,
                }
            }
            // Garbled 2xx answers too: a captive portal's page is not the server's word, and
            // a consumed code would answer invalid_grant on the next poll anyway.
            ref transient if transient.verdict() == Verdict::Retry => {
                self.failures = self.failures.saturating_add(1);
                self.next_poll_at = now.later(self.backoff(transient.retry_after()));
                self.last_problem = Some(transient.to_string());
                PollStatus::Retrying {
                    reason: transient.to_string(),
                    attempt: self.failures,
                }
            }
            other => return Step::Stop(stop_reason(other)),
        };
        Step::Continue {
            status,
            next: self.next(),
        }
    }

    /// Why polling stops at the local deadline: plain expiry, or a server that kept failing.
    pub fn expired(&self) -> StopReason {
        match &self.last_problem {
            None => StopReason::Expired { by_server: false },
            Some(last_error) => StopReason::Unreachable {
                last_error: last_error.clone(),
            },
        }
    }

    /// Wait after the n-th error in a row: 2^n intervals, capped, never below the interval.
    fn backoff(&self, retry_after: Option<Duration>) -> Duration {
        let doublings = self.failures.min(16);
        let doubled = self.interval.saturating_mul(1 << doublings);
        let wait = doubled.min(MAX_BACKOFF).max(self.interval);
        retry_after.map_or(wait, |asked| wait.max(asked))
    }
}

fn stop_reason(error: ClientError) -> StopReason {
    match error {
        ClientError::OAuth {
            error: OAuthErrorCode::ExpiredToken,
            ..
        } => StopReason::Expired { by_server: true },
        ClientError::OAuth {
            error: OAuthErrorCode::AccessDenied,
            description,
            ..
        } => StopReason::Denied {
            description,
            server: None,
            scope: None,
        },
        ClientError::OAuth {
            error, description, ..
        } => StopReason::Refused {
            code: error,
            description,
        },
        other => StopReason::Failed {
            message: other.to_string(),
        },
    }
}

/// How a polling run ended.
#[derive(Debug)]
pub enum PollEnd {
    /// Approved.
    Authorized(TokenResponse),
    /// Stopped without tokens.
    Stopped(StopReason),
    /// The user cancelled while we were waiting between polls.
    Cancelled,
    /// The code died while this laptop slept: its deadline passed on the wall clock, not on
    /// the monotonic one (which stops in a suspend). Nobody saw it expire; a fresh one may
    /// be asked for.
    Slept,
}

/// Drives a [`Poller`]: sleeps until each poll is due, calls `poll_once`, reports each status.
///
/// Cancellation takes effect at once while waiting. A poll already sent is allowed to finish,
/// so that tokens the server has issued are never thrown away.
pub async fn poll_until_done<F, Fut>(
    mut poller: Poller,
    cancel: &CancellationToken,
    mut poll_once: F,
    mut on_status: impl FnMut(&PollStatus, Next),
) -> PollEnd
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<TokenResponse, ClientError>>,
{
    // The code dies by the server's clock, which goes on while this laptop sleeps (and its
    // monotonic clock stops): the deadline on the wall clock too.
    let wall_deadline =
        SystemTime::now().checked_add(poller.deadline().saturating_duration_since(Instant::now()));
    loop {
        let wake = match poller.next() {
            Next::PollAt(at) | Next::ExpireAt(at) => at,
        };
        tokio::select! {
            biased;
            () = cancel.cancelled() => return PollEnd::Cancelled,
            () = sleep_until(wake) => {}
        }
        // A late wake-up (a busy or sleeping laptop) must not poll for a code already dead.
        let slept_past = wall_deadline.is_some_and(|deadline| SystemTime::now() >= deadline);
        let awake_past = Instant::now() >= poller.deadline();
        if slept_past && !awake_past {
            return PollEnd::Slept;
        }
        if matches!(poller.next(), Next::ExpireAt(_)) || awake_past {
            return PollEnd::Stopped(poller.expired());
        }
        let answer = poll_once().await;
        match poller.on_answer(Instant::now(), answer) {
            Step::Continue { status, next } => on_status(&status, next),
            Step::Authorized(tokens) => return PollEnd::Authorized(tokens),
            Step::Stop(reason) => return PollEnd::Stopped(reason),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use super::*;
    use secrecy::SecretString;

    const S: Duration = Duration::from_secs(1);

    fn oauth(code: &str) -> Result<TokenResponse, ClientError> {
        Err(ClientError::OAuth {
            status: 400,
            error: OAuthErrorCode::parse(code),
            description: None,
        })
    }

    fn http(status: u16, retry_after: Option<Duration>) -> Result<TokenResponse, ClientError> {
        Err(ClientError::Http {
            status,
            description: None,
            retry_after,
        })
    }

    fn timeout() -> Result<TokenResponse, ClientError> {
        Err(ClientError::Timeout {
            host: "h".into(),
            after: 20 * S,
        })
    }

    fn tokens() -> TokenResponse {
        TokenResponse {
            access_token: SecretString::from("AT"),
            refresh_token: Some(SecretString::from("RT")),
            expires_in: Some(28800 * S),
            token_type: Some("bearer".into()),
            scope: None,
            refresh_token_unusable: false,
        }
    }

    /// Runs the real driver against scripted answers under tokio's paused clock and returns
    /// when each poll went out, in seconds after the code arrived, and how polling ended.
    async fn run(
        expires_in: Duration,
        interval: Duration,
        answers: Vec<Result<TokenResponse, ClientError>>,
    ) -> (Vec<f64>, PollEnd) {
        let start = Instant::now();
        let answers = Arc::new(Mutex::new(VecDeque::from(answers)));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let poller = Poller::new(start, expires_in, interval);
        let cancel = CancellationToken::new();
        let end = poll_until_done(
            poller,
            &cancel,
            || {
                let answers = answers.clone();
                let sent = sent.clone();
                async move {
                    sent.lock()
                        .unwrap()
                        .push((Instant::now() - start).as_secs_f64());
                    answers
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or_else(|| oauth("authorization_pending"))
                }
            },
            |_, _| {},
        )
        .await;
        let sent = sent.lock().unwrap().clone();
        (sent, end)
    }

    #[tokio::test(start_paused = true)]
    async fn first_poll_waits_one_interval_and_pending_keeps_it() {
        let (sent, end) = run(
            120 * S,
            5 * S,
            vec![
                oauth("authorization_pending"),
                oauth("authorization_pending"),
                Ok(tokens()),
            ],
        )
        .await;
        assert_eq!(sent, [5.0, 10.0, 15.0]);
        assert!(matches!(end, PollEnd::Authorized(_)));
    }

    #[tokio::test(start_paused = true)]
    async fn slow_down_adds_five_seconds_for_every_later_poll() {
        let (sent, _) = run(
            120 * S,
            5 * S,
            vec![
                oauth("authorization_pending"),
                oauth("slow_down"),
                oauth("authorization_pending"),
                oauth("slow_down"),
                oauth("authorization_pending"),
                Ok(tokens()),
            ],
        )
        .await;
        // Gaps: 5, then 10 after the first slow_down (kept), then 15 after the second.
        assert_eq!(sent, [5.0, 10.0, 20.0, 30.0, 45.0, 60.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn errors_back_off_doubling_capped_and_never_below_the_interval() {
        let (sent, _) = run(
            600 * S,
            5 * S,
            vec![
                timeout(),
                http(503, None),
                http(502, None),
                http(500, None),
                oauth("authorization_pending"),
                oauth("authorization_pending"),
                Ok(tokens()),
            ],
        )
        .await;
        let gaps: Vec<f64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
        // 10, 20, 40, 60 (cap), then back to the interval once the server answers normally.
        assert_eq!(gaps, [10.0, 20.0, 40.0, 60.0, 5.0, 5.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_after_slow_down_keeps_the_raised_interval() {
        // The oauth2 crate's bug: a network error lowered a slow_down-raised interval.
        let (sent, _) = run(
            600 * S,
            5 * S,
            vec![
                oauth("slow_down"),
                oauth("slow_down"),
                timeout(),
                oauth("authorization_pending"),
                oauth("authorization_pending"),
                Ok(tokens()),
            ],
        )
        .await;
        let gaps: Vec<f64> = sent.windows(2).map(|w| w[1] - w[0]).collect();
        assert_eq!(gaps, [10.0, 15.0, 30.0, 15.0, 15.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured_even_beyond_the_cap() {
        let (sent, _) = run(
            600 * S,
            5 * S,
            vec![http(429, Some(90 * S)), http(429, Some(S)), Ok(tokens())],
        )
        .await;
        // 90 s as asked; then 2^2 * 5 = 20 s, since 1 s asked is below the back-off.
        assert_eq!(sent, [5.0, 95.0, 115.0]);
    }

    #[tokio::test(start_paused = true)]
    async fn the_local_deadline_stops_polling_without_an_early_last_poll() {
        let start = Instant::now();
        let (sent, end) = run(12 * S, 5 * S, vec![]).await;
        assert_eq!(sent, [5.0, 10.0], "no poll at 15 s: the code died at 12 s");
        assert!(matches!(
            end,
            PollEnd::Stopped(StopReason::Expired { by_server: false })
        ));
        assert_eq!(
            Instant::now() - start,
            12 * S,
            "expiry is reported at the deadline"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn terminal_answers_stop_with_a_typed_reason() {
        for (answer, want) in [
            (
                oauth("expired_token"),
                StopReason::Expired { by_server: true },
            ),
            (
                oauth("access_denied"),
                StopReason::Denied {
                    description: None,
                    server: None,
                    scope: None,
                },
            ),
            (
                oauth("invalid_grant"),
                StopReason::Refused {
                    code: OAuthErrorCode::InvalidGrant,
                    description: None,
                },
            ),
            (
                oauth("invalid_client"),
                StopReason::Refused {
                    code: OAuthErrorCode::InvalidClient,
                    description: None,
                },
            ),
            (
                oauth("invalid_request"),
                StopReason::Refused {
                    code: OAuthErrorCode::InvalidRequest,
                    description: None,
                },
            ),
        ] {
            let (sent, end) =
                run(120 * S, 5 * S, vec![oauth("authorization_pending"), answer]).await;
            assert_eq!(sent, [5.0, 10.0]);
            match end {
                PollEnd::Stopped(reason) => assert_eq!(reason, want),
                other => panic!("expected {want:?}, got {other:?}"),
            }
        }
        let (_, end) = run(120 * S, 5 * S, vec![http(404, None)]).await;
        assert!(matches!(end, PollEnd::Stopped(StopReason::Failed { .. })));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_while_waiting_ends_at_once_with_no_further_poll() {
        let cancel = CancellationToken::new();
        let polls = Arc::new(Mutex::new(0));
        let start = Instant::now();
        let poller = Poller::new(start, 120 * S, 5 * S);
        let canceller = cancel.clone();
        let count = polls.clone();
        let end = poll_until_done(
            poller,
            &cancel,
            move || {
                *count.lock().unwrap() += 1;
                let canceller = canceller.clone();
                async move {
                    canceller.cancel();
                    oauth("authorization_pending")
                }
            },
            |_, _| {},
        )
        .await;
        assert!(matches!(end, PollEnd::Cancelled));
        assert_eq!(*polls.lock().unwrap(), 1);
        assert_eq!(
            Instant::now() - start,
            5 * S,
            "cancel did not wait for the next poll"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_captive_portal_page_is_retried_and_a_failing_server_is_named_at_expiry() {
        let garbled = || {
            Err(ClientError::Malformed(
                "the answer is not valid JSON".into(),
            ))
        };
        let (sent, end) = run(120 * S, 5 * S, vec![garbled(), Ok(tokens())]).await;
        assert_eq!(sent, [5.0, 15.0], "retried after a back-off");
        assert!(matches!(end, PollEnd::Authorized(_)));

        let (sent, end) = run(30 * S, 5 * S, vec![timeout(), timeout(), timeout()]).await;
        assert_eq!(
            sent,
            [5.0, 15.0],
            "the third poll would come after the code died"
        );
        match end {
            PollEnd::Stopped(StopReason::Unreachable { last_error }) => {
                assert!(last_error.contains("did not answer"), "{last_error}");
            }
            other => panic!("expected Unreachable, got {other:?}"),
        }
    }

    #[test]
    fn messages_quote_the_server_and_say_what_to_do() {
        let denied = StopReason::Denied {
            server: None,
            scope: None,
            description: Some("Device flow is disabled by your administrator".into()),
        };
        let text = denied.to_string();
        assert!(text.contains("declined"), "{text}");
        assert!(
            text.ends_with("\"Device flow is disabled by your administrator\""),
            "{text}"
        );
        let client = StopReason::Refused {
            code: OAuthErrorCode::InvalidClient,
            description: None,
        };
        assert!(client.to_string().contains("client secret"));
    }

    #[test]
    fn a_zero_interval_does_not_spin() {
        let start = Instant::now();
        let poller = Poller::new(start, 120 * S, Duration::ZERO);
        assert_eq!(poller.next(), Next::PollAt(start + MIN_INTERVAL));
    }
}
