//! WebSockets per client address: one address may hold only so many at once, so one client cannot
//! take every socket the api can serve.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

pub struct SocketsPerAddress {
    limit: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A socket's place, given back when dropped (the socket closed).
pub struct SocketPlace {
    sockets: Arc<SocketsPerAddress>,
    addr: IpAddr,
}

impl SocketsPerAddress {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            open: Mutex::default(),
        }
    }

    /// A place for one more socket from `addr`, or how many it holds already.
    pub fn open(self: &Arc<Self>, addr: IpAddr) -> Result<SocketPlace, usize> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(addr).or_default();
        if *count >= self.limit {
            return Err(*count);
        }
        *count += 1;
        Ok(SocketPlace {
            sockets: self.clone(),
            addr,
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl Drop for SocketPlace {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.addr) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_up_to_the_limit_and_a_closed_socket_frees_its_place() {
        let sockets = Arc::new(SocketsPerAddress::new(2));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let first = sockets.open(a).unwrap();
        let _second = sockets.open(a).unwrap();
        assert_eq!(sockets.open(a).err(), Some(2));
        assert!(sockets.open(b).is_ok(), "another address");
        drop(first);
        assert!(sockets.open(a).is_ok());
    }
}
