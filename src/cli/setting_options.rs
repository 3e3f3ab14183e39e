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
                spec.help().replace('`', ""),
                spec.default_doc().replace('`', ""),
                env_name(spec.key()),
                spec.key()
            )),
    }
}
