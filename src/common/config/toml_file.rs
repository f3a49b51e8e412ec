//! Reading a typed `.toml` config with the same keys.

use super::{line_of_offset, ConfigError, FixedEnv, Kind, RawConfig, Value};
use std::collections::BTreeMap;

impl RawConfig {
    /// `fixed`: take what the file leaves unset from it instead of the caller's environment.
    pub(super) fn load_toml(
        &mut self,
        keys: &[(&str, Kind)],
        fixed: Option<&FixedEnv>,
    ) -> Result<(), ConfigError> {
        let table: BTreeMap<String, toml::Spanned<toml::Value>> = toml::from_str(&self.text)
            .map_err(|e| ConfigError(format!("{}: {e}", self.path.display())))?;
        let key_list: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
        for (name, spanned) in &table {
            let line = line_of_offset(&self.text, spanned.span().start);
            let Some((_, kind)) = keys.iter().find(|(k, _)| k == name) else {
                self.warn_unknown(name, &key_list);
                continue;
            };
            let value = toml_value(spanned.get_ref(), *kind).ok_or_else(|| {
                ConfigError(format!(
                    "{}:{line}: {name} must be {}",
                    self.path.display(),
                    match kind {
                        Kind::Bool => "true or false",
                        Kind::Int => "a non-negative integer",
                        Kind::List => "a string or an array of strings",
                        Kind::Str => "a string",
                    }
                ))
            })?;
            self.values.insert(name.clone(), value);
        }
        // As with a sourced bash file, what the file leaves unset comes from the environment.
        for (name, _) in keys {
            if !self.values.contains_key(*name) {
                let from_env = match fixed {
                    Some(f) => f
                        .vars
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.clone()),
                    None => std::env::var(name).ok(),
                };
                if let Some(v) = from_env {
                    self.values.insert(name.to_string(), Value::Str(v));
                }
            }
        }
        Ok(())
    }
}

fn toml_value(v: &toml::Value, kind: Kind) -> Option<Value> {
    match (kind, v) {
        (Kind::Bool, toml::Value::Boolean(b)) => Some(Value::Str(b.to_string())),
        (Kind::Int, toml::Value::Integer(i)) if *i >= 0 => Some(Value::Str(i.to_string())),
        (Kind::List, toml::Value::Array(a)) => a
            .iter()
            .map(|e| e.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .map(Value::List),
        (Kind::List | Kind::Str, toml::Value::String(s)) => Some(Value::Str(s.clone())),
        (Kind::Str, toml::Value::Integer(i)) => Some(Value::Str(i.to_string())),
        _ => None,
    }
}
