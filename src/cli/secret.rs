//! `c2c-pair secret set`: the client secret into the keychain, never echoed.

use std::io::{BufRead as _, IsTerminal as _};
use std::process::ExitCode;

use secrecy::SecretString;

use c2c_pair::backend;
use c2c_pair::c2c::profile::Profile;
use c2c_pair::device::FailureKind;

use super::{Invocation, report};

/// Reads the client secret and stores it for the --api-base host.
pub async fn set(invocation: &Invocation) -> ExitCode {
    let profile = match invocation.choice() {
        Ok(choice) => choice.profile,
        Err(message) => {
            report(&message);
            return ExitCode::from(2);
        }
    };
    let secret = match read_secret(&profile) {
        Ok(secret) => secret,
        Err(message) => {
            report(&message);
            return ExitCode::from(2);
        }
    };
    let keychain = invocation.keychain();
    match backend::save_client_secret(&keychain, &profile, secret).await {
        Ok(()) => {
            out!(
                "Client secret for {} stored in the OS keychain ({}).",
                profile.keychain_host(),
                keychain.describe()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            report(&error.to_string());
            ExitCode::from(FailureKind::Keychain.exit_code())
        }
    }
}

/// The secret from the terminal without echo, or from piped stdin.
fn read_secret(profile: &Profile) -> Result<SecretString, String> {
    let line = if std::io::stdin().is_terminal() {
        let prompt = format!(
            "Client secret for {} (typing is hidden; stored in the OS keychain): ",
            profile.api_base
        );
        rpassword::prompt_password(prompt).map_err(|e| format!("could not read the secret: {e}"))?
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("could not read the secret from stdin: {e}"))?;
        line
    };
    let secret = line.trim();
    if secret.is_empty() {
        return Err("no secret given; nothing was stored".into());
    }
    Ok(SecretString::from(secret.to_owned()))
}
