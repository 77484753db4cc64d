//! The arms of a comparison: a training method and the variant it is trained in. `metakd` is
//! the released code's gate proxy, `metakd-lookahead` the one-step look-ahead
//! (`methods.md` §2.5) and `metakd-kd1` the gate proxy with a distillation weight of 1
//! instead of 0.1 (the ablation of docs/experiment.md); every other method is its own arm.

use crate::train::config::{MetaUpdate, Method, TrainConfig};

/// What an arm changes in its method's default settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// The method as its defaults train it.
    Default,
    /// MetaKD with the one-step look-ahead meta step instead of the gate proxy.
    LookaheadMetaStep,
    /// MetaKD with the distillation term weighted 1 instead of 0.1: at 0.1 it is under 1 % of
    /// the training loss, and this arm asks whether a stronger distillation changes what the
    /// method keeps when sequences are missing.
    KdWeightOne,
}

/// One compared arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arm {
    pub method: Method,
    pub variant: Variant,
}

impl Arm {
    /// Every arm, in the order `metakd experiment --help` lists them.
    pub const ALL: [Arm; 6] = [
        Arm::of(Method::Baseline),
        Arm::of(Method::Lckd),
        Arm::of(Method::Gmd),
        Arm::of(Method::Metakd),
        Arm {
            method: Method::Metakd,
            variant: Variant::LookaheadMetaStep,
        },
        Arm {
            method: Method::Metakd,
            variant: Variant::KdWeightOne,
        },
    ];

    /// A method with its default settings.
    pub const fn of(method: Method) -> Arm {
        Arm {
            method,
            variant: Variant::Default,
        }
    }

    /// The arm's name in commands, run folders and tables.
    pub fn name(self) -> &'static str {
        match self.variant {
            Variant::Default => self.method.name(),
            Variant::LookaheadMetaStep => "metakd-lookahead",
            Variant::KdWeightOne => "metakd-kd1",
        }
    }

    pub fn parse(text: &str) -> Option<Arm> {
        Arm::ALL.into_iter().find(|a| a.name() == text)
    }

    /// Sets what this arm fixes in a training configuration.
    pub fn apply(self, config: &mut TrainConfig) {
        config.method = self.method;
        match self.variant {
            Variant::Default => {}
            Variant::LookaheadMetaStep => config.metakd.meta_update = MetaUpdate::OneStepLookahead,
            Variant::KdWeightOne => config.metakd.kd_weight = 1.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Arm;
    use crate::model::Preset;
    use crate::train::config::{MetaUpdate, Method, TrainConfig};

    #[test]
    fn names_round_trip_and_each_variant_sets_its_setting() {
        for arm in Arm::ALL {
            assert_eq!(Arm::parse(arm.name()), Some(arm));
        }
        assert_eq!(Arm::parse("metakd"), Some(Arm::of(Method::Metakd)));
        assert_eq!(Arm::parse("lookahead"), None);
        let mut config = TrainConfig::new(Method::Baseline, Preset::Tiny);
        Arm::parse("metakd-lookahead").unwrap().apply(&mut config);
        assert_eq!(config.method, Method::Metakd);
        assert_eq!(config.metakd.meta_update, MetaUpdate::OneStepLookahead);
        assert_eq!(config.metakd.kd_weight, 0.1);
        let mut config = TrainConfig::new(Method::Baseline, Preset::Tiny);
        Arm::parse("metakd-kd1").unwrap().apply(&mut config);
        assert_eq!(config.method, Method::Metakd);
        assert_eq!(config.metakd.meta_update, MetaUpdate::GateProxy);
        assert_eq!(config.metakd.kd_weight, 1.0);
        let mut config = TrainConfig::new(Method::Metakd, Preset::Tiny);
        Arm::of(Method::Metakd).apply(&mut config);
        assert_eq!(config.metakd.kd_weight, 0.1);
    }
}
