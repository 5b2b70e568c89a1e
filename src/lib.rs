//! `ioloop`: Python's `selectors`, `asyncore` and `asynchat`, for Rust.
//!
//! The crate is built in layers, each usable on its own:
//!
//! - [`selector`]: the `selectors` module — a [`Selector`](selector::Selector) trait with
//!   epoll, kqueue, IOCP, event ports, poll and select backends chosen at run time, a
//!   cross-thread [`Waker`](selector::Waker), and [`SelectorMap`](selector::SelectorMap), the
//!   keyed registry Python programs use.
//!
//! # Porting from Python's `selectors`
//!
//! | Python | ioloop |
//! |---|---|
//! | `selectors.DefaultSelector()` | [`SelectorMap::new()`](selector::SelectorMap::new) (or [`DefaultSelector::new()`](selector::DefaultSelector::new) for raw sources) |
//! | `selectors.PollSelector()` etc. | [`SelectorMap::with_kind(SelectorKind::Poll)`](selector::SelectorMap::with_kind), or `IOLOOP_SELECTOR=poll` |
//! | `EVENT_READ`, `EVENT_WRITE` | [`Interest::READ`](selector::Interest::READ), [`Interest::WRITE`](selector::Interest::WRITE) |
//! | `sel.register(sock, events, data)` → key | [`map.register(sock, interest, data)`](selector::SelectorMap::register) → [`SelectorKey`](selector::SelectorKey) (the map owns `sock`) |
//! | `sel.modify(sock, events)` | [`map.modify(key, interest)`](selector::SelectorMap::modify) |
//! | `sel.unregister(sock); sock.close()` | `let (sock, data) = map.unregister(key)?;` then drop `sock` |
//! | `sel.select(timeout)` → `[(key, mask)]` | [`map.select(Some(timeout))`](selector::SelectorMap::select) → `Vec<(SelectorKey, Interest)>` |
//! | `key.data`, `key.fileobj` | [`map.data(key)`](selector::SelectorMap::data), [`map.source(key)`](selector::SelectorMap::source), [`map.get_mut(key)`](selector::SelectorMap::get_mut) |
//! | `sel.get_key(sock)`, `sel.get_map()` | [`map.find(&sock)`](selector::SelectorMap::find), [`map.iter()`](selector::SelectorMap::iter) |
//! | `KeyError` (registered twice / unknown) | `io::ErrorKind::AlreadyExists` / `NotFound` |
//! | `ValueError("Invalid events: 0")` | allowed: [`Interest::NONE`](selector::Interest::NONE) parks a source |
//! | `sel.close()` | drop the map |
//! | (none) | [`map.waker()`](selector::SelectorMap::waker): end a blocking `select` from another thread |

#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]
#![doc(test(attr(deny(warnings))))]

mod dispatcher;
mod event_loop;
mod io_source;
pub mod net;
pub mod selector;

pub use dispatcher::Dispatcher;
pub use event_loop::{Context, EventLoop, LoopHandle, TimerId, Token};
pub use io_source::IoSource;
