//! The write scripts, one `.lua` file each beside this one, each run after
//! `prelude.lua` (the prefix, the epoch, the stream and the helpers every
//! script uses).

use redis::Script;

pub(super) struct Scripts {
    pub(super) login: Script,
    pub(super) announce: Script,
    pub(super) heartbeat: Script,
    pub(super) logout: Script,
    pub(super) remove: Script,
    pub(super) sweep: Script,
}

impl Scripts {
    /// The scripts, each after the prelude.
    pub(super) fn load() -> Scripts {
        let script = |body: &str| Script::new(&format!("{PRELUDE}\n{body}"));
        Scripts {
            login: script(include_str!("login.lua")),
            announce: script(include_str!("announce.lua")),
            heartbeat: script(include_str!("heartbeat.lua")),
            logout: script(include_str!("logout.lua")),
            remove: script(include_str!("remove.lua")),
            sweep: script(include_str!("sweep.lua")),
        }
    }
}

/// Lua shared by the scripts (see `prelude.lua`).
const PRELUDE: &str = include_str!("prelude.lua");
