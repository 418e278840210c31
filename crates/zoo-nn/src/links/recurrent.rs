//! Recurrent links with explicit state (like candle's `RNN`), plus
//! [`Stateful`], Chainer's stateful calling convention on top of it.
//!
//! Explicit state keeps links shareable and makes truncated BPTT, batching of
//! independent sequences and checkpointing plain data flow; the stateful
//! wrapper exists because Chainer code (and Chainer-trained models) call
//! `link(x)` once per step.

use crate::error::{NnError, Result};
use crate::link::{Link, Mode};
use std::sync::Mutex;
use tch::Tensor;

pub trait Recurrent: std::fmt::Debug + Send {
    type State: Send;

    /// The state before the first step: what Chainer's `reset_state` means.
    fn zero_state(&self, batch: i64) -> Result<Self::State>;

    /// One time step: `x` is (batch, in_size).
    fn step(&self, x: &Tensor, state: &Self::State) -> Result<Self::State>;

    /// The output h of a state, (batch, out_size).
    fn output(&self, state: &Self::State) -> Tensor;

    /// Runs a time-major sequence `xs` (T, batch, in_size) from `state`;
    /// returns the outputs (T, batch, out_size) and the last state.
    fn seq(&self, xs: &Tensor, state: Self::State) -> Result<(Tensor, Self::State)> {
        step_by_step(self, xs, state)
    }

    /// `seq` from the zero state.
    fn seq_init(&self, xs: &Tensor) -> Result<(Tensor, Self::State)> {
        let batch = xs.size().get(1).copied().unwrap_or(0);
        let state = self.zero_state(batch)?;
        self.seq(xs, state)
    }
}

/// [`Recurrent::seq`]'s default: one [`Recurrent::step`] per time step, for
/// links whose faster `seq` falls back to it.
pub(crate) fn step_by_step<R: Recurrent + ?Sized>(
    link: &R,
    xs: &Tensor,
    state: R::State,
) -> Result<(Tensor, R::State)> {
    if xs.dim() != 3 {
        return Err(NnError::input(
            "sequence",
            format!(
                "expected (time, batch, features), got shape {:?}",
                xs.size()
            ),
        ));
    }
    let mut state = state;
    let mut outputs = Vec::new();
    for t in 0..xs.size()[0] {
        state = link.step(&xs.f_get(t)?, &state)?;
        outputs.push(link.output(&state));
    }
    if outputs.is_empty() {
        return Err(NnError::input("sequence", "the sequence has no time steps"));
    }
    Ok((Tensor::f_stack(&outputs, 0)?, state))
}

/// Chainer's stateful convention: each `forward(x)` advances a held state;
/// `reset_state` starts a new sequence.
#[derive(Debug)]
pub struct Stateful<R: Recurrent> {
    pub inner: R,
    state: Mutex<Option<R::State>>,
}

impl<R: Recurrent> Stateful<R>
where
    R::State: std::fmt::Debug,
{
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            state: Mutex::new(None),
        }
    }

    pub fn reset_state(&self) {
        *self.lock() = None;
    }

    pub fn set_state(&self, state: R::State) {
        *self.lock() = Some(state);
    }

    /// Takes the held state out (None after a reset), leaving none behind.
    pub fn take_state(&self) -> Option<R::State> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<R::State>> {
        // A poisoned lock only means another step panicked; the state it
        // holds is still a complete one, so keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<R: Recurrent> Link for Stateful<R>
where
    R::State: std::fmt::Debug,
{
    fn f_forward(&self, x: &Tensor, _mode: Mode) -> Result<Tensor> {
        let mut held = self.lock();
        let state = match held.take() {
            Some(state) => state,
            None => self
                .inner
                .zero_state(x.size().first().copied().unwrap_or(0))?,
        };
        let next = self.inner.step(x, &state);
        match next {
            Ok(next) => {
                let y = self.inner.output(&next);
                *held = Some(next);
                Ok(y)
            }
            Err(error) => {
                *held = Some(state);
                Err(error)
            }
        }
    }
}
