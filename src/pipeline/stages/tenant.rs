//! The `tenant` stage.

use crate::config::yaml::Node;
use crate::pipeline::{BuildCtx, Stage};

/// Builds the stage from its config.
pub fn build(_ctx: &mut BuildCtx, _config: &Node) -> Result<Box<dyn Stage>, String> {
    Err("the tenant stage is not implemented in ferrotail yet".into())
}
