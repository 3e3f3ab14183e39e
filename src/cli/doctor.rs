//! `c2c-pair doctor`: the diagnostics report on stdout, for support tickets.

use std::process::ExitCode;

use c2c_pair::device::FailureKind;
use c2c_pair::diagnostics::{self, Subject};

use super::{Invocation, fail};

/// Prints the report; exits 0 when nothing is wrong, else with the first problem's code
/// (6 keychain, 5 network, 8 a Wi-Fi sign-in first, 2 configuration).
pub async fn run(invocation: &Invocation) -> ExitCode {
    let (choice, registry) = match invocation
        .choice()
        .and_then(|c| Ok((c, invocation.registry()?)))
    {
        Ok(found) => found,
        Err(message) => return fail(false, FailureKind::Usage, &message),
    };
    let keychain = invocation.keychain();
    let subject = Subject {
        choice: &choice,
        keychain: &keychain,
        registry: &registry,
    };
    let found = diagnostics::gather(&subject).await;
    out!("{}", found.text.trim_end());
    match found.problems.first() {
        Some(problem) => ExitCode::from(problem.kind.exit_code()),
        None => ExitCode::SUCCESS,
    }
}
