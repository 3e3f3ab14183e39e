//! The settings' command-line options, made from their declarations
//! (`c2c_pair::settings::ALL`): each option's name, value, help and check come from its
//! setting, and what was typed is a settings layer, put over the file and the environment
//! when the run is resolved.

use clap::builder::ValueParser;
use clap::{Arg, ArgAction, ArgMatches, FromArgMatches};

use c2c_pair::settings::{ALL, Layer, Spec, Value, env_name};

/// The settings given as options (only what was typed; nothing is read here).
#[derive(Debug, Clone, Default)]
pub struct SettingOptions(pub Layer);

impl clap::Args for SettingOptions {
    fn augment_args(command: clap::Command) -> clap::Command {
        ALL.iter()
            .filter_map(|&spec| Some(arg(spec, spec.option()?)))
            .fold(command, clap::Command::arg)
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl FromArgMatches for SettingOptions {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut options = Self::default();
        options.update_from_arg_matches(matches)?;
        Ok(options)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for &spec in ALL {
            let Some(option) = spec.option() else {
                continue;
            };
            let value = match option.switch {
                Some(switch) => match matches.try_get_one::<bool>(option.long) {
                    Ok(Some(true)) => Some(spec.read_text(switch.sets).map_err(|reason| {
                        clap::Error::raw(clap::error::ErrorKind::InvalidValue, reason)
                    })?),
                    _ => None,
                },
                None => matches
                    .try_get_one::<Value>(option.long)
                    .ok()
                    .flatten()
                    .cloned(),
            };
            if let Some(value) = value {
                self.0.set(spec.key(), value);
            }
        }
        Ok(())
    }
}

/// The option of one setting, checked by the setting's own reading of text.
fn arg(spec: &'static dyn Spec, option: c2c_pair::settings::CliOption) -> Arg {
    let arg = Arg::new(option.long)
        .long(option.long)
        .global(option.global);
    match option.switch {
        Some(switch) => arg.action(ArgAction::SetTrue).help(format!(
            "{} [config: {} = {}; env: {}]",
            switch.help,
            spec.key(),
            switch.sets,
            env_name(spec.key())
        )),
        None => arg
            .value_name(spec.value_name())
            .value_parser(ValueParser::new(move |text: &str| spec.read_text(text)))
            .help(format!(
                "{} [default: {}; env: {}; config: {}]",
                spec.help().replace('`', "").trim_end_matches('.'),
                spec.default_doc().replace('`', ""),
                env_name(spec.key()),
                spec.key()
            )),
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory as _, Parser as _};

    use c2c_pair::settings::{self, Settings};

    use crate::cli::Cli;

    #[test]
    fn the_options_are_valid_for_clap() {
        Cli::command().debug_assert();
    }

    #[test]
    fn options_before_and_after_the_command_become_the_command_line_layer() {
        let cli = Cli::try_parse_from([
            "c2c-pair",
            "--no-url-pairing",
            "--presenter-linger",
            "2.5",
            "status",
            "--api-base",
            "https://c2c.example.com",
        ])
        .unwrap();
        let layer = cli.setting_options.0;
        assert_eq!(layer.get(&settings::URL_PAIRING), Some(false));
        assert_eq!(
            layer.get(&settings::PRESENTER_LINGER),
            Some(std::time::Duration::from_millis(2500))
        );
        assert_eq!(
            layer.get(&settings::API_BASE).map(String::from),
            Some("https://c2c.example.com/".to_owned())
        );
        assert_eq!(layer.get(&settings::PRESENTER_START), None, "not typed");
        let resolved =
            Settings::resolve(None, false, [Default::default(), Default::default(), layer]);
        assert_eq!(
            resolved.source(settings::URL_PAIRING.key),
            settings::Source::CommandLine
        );
        // A value the setting refuses is refused by the parser, naming the option.
        let error = Cli::try_parse_from(["c2c-pair", "--heartbeat-interval", "0.5"]).unwrap_err();
        assert!(error.to_string().contains("between 1 and 3600"), "{error}");
        // A window-only option is not accepted after a command.
        assert!(Cli::try_parse_from(["c2c-pair", "status", "--presenter"]).is_err());
    }
}
