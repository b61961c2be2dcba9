//! Caps on running rides: for the whole platform and for each caller. Running rides are the hub's
//! (every api replica sees every ride), so the platform cap holds across replicas; a caller's rides
//! are those this replica started for them, so the per-caller cap holds per replica.
//!
//! Starts are reserved under one lock before their commands are published, so two starts at once
//! cannot both take the last place.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use crate::hub::Hub;

/// Why rides cannot start now.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum CapReached {
    #[error("{running} rides are running (or starting) and the platform runs at most {limit}")]
    Platform { running: usize, limit: usize },
    #[error("you have {running} rides running (or starting) and may run at most {limit}")]
    Caller { running: usize, limit: usize },
}

pub struct RideCaps {
    platform: usize,
    per_caller: usize,
    hub: Arc<Hub>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The rides each caller started here, pruned of those over when the caller starts more.
    started: HashMap<String, Vec<String>>,
    /// Rides reserved and not yet handed to the hub, by caller.
    reserved: HashMap<String, usize>,
}

impl State {
    fn reserved_total(&self) -> usize {
        self.reserved.values().sum()
    }
}

/// Places for rides about to start; given back when dropped unless [`Reservation::started`] says
/// which rides took them.
pub struct Reservation<'a> {
    caps: &'a RideCaps,
    caller: String,
    rides: usize,
}

impl RideCaps {
    pub fn new(platform: usize, per_caller: usize, hub: Arc<Hub>) -> Self {
        Self {
            platform,
            per_caller,
            hub,
            state: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves places for `rides` new rides of `caller`, or says which cap they would pass.
    pub fn reserve(&self, caller: &str, rides: usize) -> Result<Reservation<'_>, CapReached> {
        let mut state = self.lock();
        let running = self.hub.running_rides() + state.reserved_total();
        if running + rides > self.platform {
            return Err(CapReached::Platform {
                running,
                limit: self.platform,
            });
        }
        let reserved = state.reserved.get(caller).copied().unwrap_or(0);
        let mut mine = state.started.remove(caller).unwrap_or_default();
        mine.retain(|id| self.hub.ride(id).is_some_and(|ride| !ride.status.is_over()));
        let running = mine.len() + reserved;
        if !mine.is_empty() {
            state.started.insert(caller.to_owned(), mine);
        }
        if running + rides > self.per_caller {
            return Err(CapReached::Caller {
                running,
                limit: self.per_caller,
            });
        }
        *state.reserved.entry(caller.to_owned()).or_default() += rides;
        Ok(Reservation {
            caps: self,
            caller: caller.to_owned(),
            rides,
        })
    }
}

impl Reservation<'_> {
    /// These rides started (the hub knows them now): they hold the caller's places until over.
    pub fn started<'id>(self, ride_ids: impl IntoIterator<Item = &'id str>) {
        let mut state = self.caps.lock();
        state
            .started
            .entry(self.caller.clone())
            .or_default()
            .extend(ride_ids.into_iter().map(str::to_owned));
        // Drop gives the reservation back.
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut state = self.caps.lock();
        if let Some(reserved) = state.reserved.get_mut(&self.caller) {
            *reserved -= self.rides;
            if *reserved == 0 {
                state.reserved.remove(&self.caller);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ride::Ride;

    fn requested(hub: &Hub, ids: &[&str]) {
        let rides: Vec<Ride> = ids
            .iter()
            .map(|id| Ride::requested(id, "1", id, 0))
            .collect();
        hub.rides_requested(&rides);
    }

    #[test]
    fn caps_count_running_and_reserved_rides_per_caller_and_in_all() {
        let hub = Arc::new(Hub::new(16, 1 << 20));
        let caps = RideCaps::new(5, 3, hub.clone());
        let first = caps.reserve("alice", 2).unwrap();
        assert_eq!(
            caps.reserve("alice", 2).err(),
            Some(CapReached::Caller {
                running: 2,
                limit: 3
            }),
            "reserved places count before the rides start"
        );
        requested(&hub, &["a1", "a2"]);
        first.started(["a1", "a2"]);
        let second = caps.reserve("bob", 3).unwrap();
        assert_eq!(
            caps.reserve("carol", 1).err(),
            Some(CapReached::Platform {
                running: 5,
                limit: 5
            })
        );
        drop(second); // bob's start failed: his places are free again
        assert!(caps.reserve("carol", 1).is_ok());
        assert!(matches!(
            caps.reserve("alice", 2),
            Err(CapReached::Caller { running: 2, .. })
        ));
    }
}
