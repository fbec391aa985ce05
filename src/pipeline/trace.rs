//! What `explain` shows: each stage notes what it checked and what came of
//! it. Live traffic runs with the trace off, where a note costs one branch
//! and its text is never built; `explain` runs the very same stages with it
//! on.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Pass,
    Fail,
    /// The check does not apply to this request.
    Skip,
    /// Something the stage found out, neither pass nor fail.
    Info,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail => "FAIL",
            Outcome::Skip => "skip",
            Outcome::Info => "info",
        }
    }
}

/// One noted check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Step {
    /// The pipeline stage: `canonical`, `endpoint`, `route`, `session`,
    /// `csrf`, `authorize`, `body`, `mode`.
    pub stage: Cow<'static, str>,
    /// What was checked, e.g. `origin`, `token`, `routes[2]`.
    pub check: Cow<'static, str>,
    pub outcome: Outcome,
    pub detail: String,
}

impl Step {
    pub fn new(
        stage: &'static str,
        check: impl Into<Cow<'static, str>>,
        outcome: Outcome,
        detail: impl Into<String>,
    ) -> Step {
        Step {
            stage: Cow::Borrowed(stage),
            check: check.into(),
            outcome,
            detail: detail.into(),
        }
    }
}

/// The notes of one request, when someone asked for them.
#[derive(Debug, Default)]
pub struct Trace {
    steps: Option<Vec<Step>>,
    /// Denials carry their `cause` (for the fix text).
    causes: bool,
}

impl Trace {
    /// Live traffic: nothing is recorded.
    pub const fn off() -> Trace {
        Trace {
            steps: None,
            causes: false,
        }
    }

    /// Live traffic with `[diagnostics] debug`: no notes, but denials
    /// carry the cause their hint names.
    pub const fn causes_only() -> Trace {
        Trace {
            steps: None,
            causes: true,
        }
    }

    /// Live traffic: off, or with `[diagnostics] debug` the causes only.
    pub const fn live(debug: bool) -> Trace {
        if debug {
            Trace::causes_only()
        } else {
            Trace::off()
        }
    }

    /// `explain`: every stage's notes are kept.
    pub fn on() -> Trace {
        Trace {
            steps: Some(Vec::new()),
            causes: true,
        }
    }

    pub fn is_on(&self) -> bool {
        self.steps.is_some()
    }

    /// Whether denials should carry their cause; building it costs an
    /// allocation a plain live denial does without.
    pub fn wants_causes(&self) -> bool {
        self.causes
    }

    /// Records a step; `make` runs only when the trace is on.
    #[inline]
    pub fn note(&mut self, make: impl FnOnce() -> Step) {
        if let Some(steps) = &mut self.steps {
            steps.push(make());
        }
    }

    pub fn into_steps(self) -> Vec<Step> {
        self.steps.unwrap_or_default()
    }
}
