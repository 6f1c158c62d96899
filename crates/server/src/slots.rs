//! Connection slots: a global and a per-IP cap for each listener kind (RTMP, HTTP), so that
//! one address cannot take every slot and no kind of client can exhaust the process.
//!
//! A [`Slot`] is taken on accept and given back when it is dropped, however its task ends
//! (a panic unwinds through the drop too).

use parking_lot::Mutex;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

/// Which cap a connection counts against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Rtmp,
    Http,
}

/// Caps of one [`Kind`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub global: usize,
    pub per_ip: usize,
}

#[derive(Debug, Default)]
struct Counts {
    total: HashMap<Kind, usize>,
    by_ip: HashMap<(Kind, IpAddr), usize>,
}

/// Slot accounting shared by the listeners.
#[derive(Debug, Default)]
pub(crate) struct Slots {
    counts: Mutex<Counts>,
}

/// Why a connection got no slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    Global(usize),
    PerIp(usize),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refused::Global(n) => write!(f, "connection limit ({n}) reached"),
            Refused::PerIp(n) => write!(f, "per-address connection limit ({n}) reached"),
        }
    }
}

/// A held slot; dropping it gives it back.
#[derive(Debug)]
pub(crate) struct Slot {
    slots: Arc<Slots>,
    kind: Kind,
    ip: IpAddr,
}

impl Slots {
    /// Take a slot of `kind` for `ip`, or say which cap is full.
    pub fn acquire(self: &Arc<Self>, kind: Kind, ip: IpAddr, caps: Caps) -> Result<Slot, Refused> {
        let mut counts = self.counts.lock();
        let total = counts.total.get(&kind).copied().unwrap_or(0);
        if total >= caps.global {
            return Err(Refused::Global(caps.global));
        }
        let mine = counts.by_ip.get(&(kind, ip)).copied().unwrap_or(0);
        if mine >= caps.per_ip {
            return Err(Refused::PerIp(caps.per_ip));
        }
        *counts.total.entry(kind).or_default() += 1;
        *counts.by_ip.entry((kind, ip)).or_default() += 1;
        Ok(Slot { slots: self.clone(), kind, ip })
    }

    /// Slots of `kind` held now.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn held(&self, kind: Kind) -> usize {
        self.counts.lock().total.get(&kind).copied().unwrap_or(0)
    }

    fn release(&self, kind: Kind, ip: IpAddr) {
        let mut counts = self.counts.lock();
        if let Some(n) = counts.total.get_mut(&kind) {
            *n = n.saturating_sub(1);
        }
        if let Some(n) = counts.by_ip.get_mut(&(kind, ip)) {
            *n -= 1;
            if *n == 0 {
                counts.by_ip.remove(&(kind, ip));
            }
        }
    }
}

impl Slot {
    /// Move this slot to another kind (a connection on the RTMP port that turned out to be
    /// HTTP). On refusal the slot is given back and the connection must close.
    pub fn convert(self, kind: Kind, caps: Caps) -> Result<Slot, Refused> {
        let (slots, ip) = (self.slots.clone(), self.ip);
        drop(self);
        slots.acquire(kind, ip, caps)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.slots.release(self.kind, self.ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_are_per_address_and_global_and_slots_come_back_on_drop() {
        let slots = Arc::new(Slots::default());
        let caps = Caps { global: 3, per_ip: 2 };
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = slots.acquire(Kind::Rtmp, a, caps).unwrap();
        let _a2 = slots.acquire(Kind::Rtmp, a, caps).unwrap();
        assert_eq!(slots.acquire(Kind::Rtmp, a, caps).unwrap_err(), Refused::PerIp(2));
        let _b1 = slots.acquire(Kind::Rtmp, b, caps).unwrap();
        assert_eq!(slots.acquire(Kind::Rtmp, b, caps).unwrap_err(), Refused::Global(3));
        // HTTP has its own count.
        let h = slots.acquire(Kind::Http, a, caps).unwrap();
        drop(a1);
        assert_eq!(slots.held(Kind::Rtmp), 2);
        let _b2 = slots.acquire(Kind::Rtmp, b, caps).unwrap();
        let h = h.convert(Kind::Rtmp, Caps { global: 10, per_ip: 10 }).unwrap();
        assert_eq!((slots.held(Kind::Rtmp), slots.held(Kind::Http)), (4, 0));
        drop(h);
        assert_eq!(slots.held(Kind::Rtmp), 3);
    }
}
