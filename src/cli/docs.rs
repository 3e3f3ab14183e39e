//! `c2c-pair completions SHELL` and `c2c-pair man`: shell completions (`clap_complete`) and the
//! man page (`clap_mangen`), generated from the same definitions as the parser, on stdout.

use std::process::ExitCode;

use clap::CommandFactory as _;

use super::{Cli, Shell, report};

/// Prints the completion script for `shell`.
pub fn completions(shell: Shell) -> ExitCode {
    let mut command = Cli::command();
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
        Shell::Powershell => clap_complete::Shell::PowerShell,
    };
    clap_complete::generate(shell, &mut command, "c2c-pair", &mut std::io::stdout());
    ExitCode::SUCCESS
}

/// Prints the man page (roff): `c2c-pair man > c2c-pair.1`.
pub fn man() -> ExitCode {
    let page = clap_mangen::Man::new(Cli::command());
    match page.render(&mut std::io::stdout()) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed stdout is not worth a panic; anything else is said.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            report(&format!("could not write the man page: {error}"));
            ExitCode::from(5)
        }
    }
}
