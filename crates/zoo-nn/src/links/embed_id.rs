//! `L.EmbedID`: looks up rows of W (n_vocab, n_units); ids equal to
//! `ignore_label` give zero vectors, as in Chainer.

use crate::error::{NnError, Result};
use crate::link::{Link, Mode};
use tch::{Kind, Tensor};

#[derive(Debug)]
pub struct EmbedID {
    pub weight: Tensor,
    pub ignore_label: Option<i64>,
}

/// `<path>/W` (n_vocab, n_units), initialised N(0, 1) like Chainer's.
pub fn embed_id(
    path: &tch::nn::Path,
    n_vocab: i64,
    n_units: i64,
    ignore_label: Option<i64>,
) -> EmbedID {
    EmbedID {
        weight: crate::init::param(
            path,
            "W",
            &[n_vocab, n_units],
            tch::nn::Init::Randn {
                mean: 0.0,
                stdev: 1.0,
            },
        ),
        ignore_label,
    }
}

impl Link for EmbedID {
    /// `x` holds integer ids of any shape; the output appends n_units.
    fn f_forward(&self, x: &Tensor, _mode: Mode) -> Result<Tensor> {
        if !matches!(
            x.kind(),
            Kind::Int64 | Kind::Int | Kind::Int16 | Kind::Int8 | Kind::Uint8
        ) {
            return Err(NnError::input(
                "EmbedID",
                format!("ids must be integers, got {:?}", x.kind()),
            ));
        }
        let ids = x.f_to_kind(Kind::Int64)?;
        let n_vocab = self.weight.size()[0];
        let (ids, keep) = match self.ignore_label {
            Some(label) => {
                let keep = ids.f_ne(label)?;
                (ids.f_where_scalarother(&keep, 0)?, Some(keep))
            }
            None => (ids, None),
        };
        if ids.numel() > 0 {
            let lo = ids.f_min()?.int64_value(&[]);
            let hi = ids.f_max()?.int64_value(&[]);
            if lo < 0 || hi >= n_vocab {
                return Err(NnError::input(
                    "EmbedID",
                    format!("ids must lie in [0, {n_vocab}), got values in [{lo}, {hi}]"),
                ));
            }
        }
        let y = Tensor::f_embedding(&self.weight, &ids, -1, false, false)?;
        match keep {
            Some(keep) => Ok(y.f_mul(&keep.f_unsqueeze(-1)?.f_to_kind(y.kind())?)?),
            None => Ok(y),
        }
    }
}
