//! The arms of a comparison: a training method and, for MetaKD, its meta step. `metakd` is
//! the released code's gate proxy and `metakd-lookahead` the one-step look-ahead
//! (`methods.md` §2.5); every other method is its own arm.

use crate::train::config::{MetaUpdate, Method, TrainConfig};

/// One compared arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arm {
    pub method: Method,
    /// MetaKD's meta step (the default for the other methods, which do not read it).
    pub meta_update: MetaUpdate,
}

impl Arm {
    /// Every arm, in the order `metakd experiment --help` lists them.
    pub const ALL: [Arm; 5] = [
        Arm::of(Method::Baseline),
        Arm::of(Method::Lckd),
        Arm::of(Method::Gmd),
        Arm::of(Method::Metakd),
        Arm {
            method: Method::Metakd,
            meta_update: MetaUpdate::OneStepLookahead,
        },
    ];

    /// A method with its default settings.
    pub const fn of(method: Method) -> Arm {
        Arm {
            method,
            meta_update: MetaUpdate::GateProxy,
        }
    }

    /// The arm's name in commands, run folders and tables.
    pub fn name(self) -> &'static str {
        match (self.method, self.meta_update) {
            (Method::Metakd, MetaUpdate::OneStepLookahead) => "metakd-lookahead",
            (method, _) => method.name(),
        }
    }

    pub fn parse(text: &str) -> Option<Arm> {
        Arm::ALL.into_iter().find(|a| a.name() == text)
    }

    /// Sets what this arm fixes in a training configuration.
    pub fn apply(self, config: &mut TrainConfig) {
        config.method = self.method;
        config.metakd.meta_update = self.meta_update;
    }
}

#[cfg(test)]
mod tests {
    use super::Arm;
    use crate::model::Preset;
    use crate::train::config::{MetaUpdate, Method, TrainConfig};

    #[test]
    fn names_round_trip_and_the_lookahead_arm_sets_its_meta_step() {
        for arm in Arm::ALL {
            assert_eq!(Arm::parse(arm.name()), Some(arm));
        }
        assert_eq!(Arm::parse("metakd"), Some(Arm::of(Method::Metakd)));
        assert_eq!(Arm::parse("lookahead"), None);
        let mut config = TrainConfig::new(Method::Baseline, Preset::Tiny);
        Arm::parse("metakd-lookahead").unwrap().apply(&mut config);
        assert_eq!(config.method, Method::Metakd);
        assert_eq!(config.metakd.meta_update, MetaUpdate::OneStepLookahead);
    }
}
