//! Every upstream of one config: `[upstream]` (the default, for routes that
//! name none) and the `[[upstreams]]` entries routes name, each with its
//! own pooled client; and the reload rule that keeps a running pool.

use std::sync::Arc;

use super::UpstreamSettings;

/// Which upstream a route forwards to: its place in `Upstreams`. Resolved
/// once, when the config is compiled, so a request looks no name up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpstreamId(u32);

/// One upstream and the name routes call it by (`[upstream]` may have none).
#[derive(Debug)]
pub struct NamedUpstream {
    pub name: Option<Arc<str>>,
    pub settings: UpstreamSettings,
}

impl NamedUpstream {
    /// How `explain` and logs name it: its name, or `[upstream]`.
    pub fn label(&self) -> &str {
        self.name.as_deref().unwrap_or("[upstream]")
    }
}

/// The upstreams of one config snapshot.
#[derive(Debug)]
pub struct Upstreams {
    /// `[upstream]` first when there is one, then `[[upstreams]]` in file order.
    list: Vec<NamedUpstream>,
    /// `[upstream]`: where a route without `upstream =` (and a request no
    /// route matches) goes.
    default: Option<UpstreamId>,
}

impl Upstreams {
    /// `default` is `[upstream]`, `named` the `[[upstreams]]` entries.
    pub fn new(default: Option<NamedUpstream>, named: Vec<NamedUpstream>) -> Upstreams {
        let has_default = default.is_some();
        let list: Vec<NamedUpstream> = default.into_iter().chain(named).collect();
        Upstreams {
            default: has_default.then_some(UpstreamId(0)),
            list,
        }
    }

    /// The id of the upstream named `name`, while compiling routes (the
    /// list is tiny: a scan is the cheapest lookup).
    pub fn id_of(names: &[Option<&str>], name: &str) -> Option<UpstreamId> {
        let index = names.iter().position(|n| *n == Some(name))?;
        u32::try_from(index).ok().map(UpstreamId)
    }

    /// Where a request goes: the route's `upstream`, or `[upstream]` for
    /// `None`. `None` only when there is no `[upstream]`, which `check`
    /// refuses for any route that could be forwarded there.
    #[inline]
    pub fn for_route(&self, chosen: Option<UpstreamId>) -> Option<&NamedUpstream> {
        let UpstreamId(index) = chosen.or(self.default)?;
        self.list.get(index as usize)
    }

    /// `[upstream]`, if the config has one.
    pub fn default_upstream(&self) -> Option<&NamedUpstream> {
        self.for_route(None)
    }

    /// `[upstream]`, to change in place (the demo points it at its echo
    /// server before serving).
    pub fn default_mut(&mut self) -> Option<&mut UpstreamSettings> {
        let UpstreamId(index) = self.default?;
        self.list.get_mut(index as usize).map(|u| &mut u.settings)
    }

    pub fn iter(&self) -> impl Iterator<Item = &NamedUpstream> {
        self.list.iter()
    }

    /// On reload: an upstream with the same name (or `[upstream]`, for
    /// `[upstream]`) reached the same way keeps the running client and
    /// the connections in its pool; any other gets the client built for it.
    pub fn keep_clients_of(&mut self, running: &Upstreams) {
        let default_index =
            |upstreams: &Upstreams| upstreams.default.map(|UpstreamId(i)| i as usize);
        let (next_default, running_default) = (default_index(self), default_index(running));
        for (index, next) in self.list.iter_mut().enumerate() {
            let same = if Some(index) == next_default {
                running.default_upstream()
            } else {
                running
                    .list
                    .iter()
                    .enumerate()
                    .find(|(i, u)| {
                        Some(*i) != running_default && u.name.is_some() && u.name == next.name
                    })
                    .map(|(_, u)| u)
            };
            if let Some(same) = same.filter(|u| u.settings.connects_like(&next.settings)) {
                next.settings.client = same.settings.client.clone();
            }
        }
    }
}
