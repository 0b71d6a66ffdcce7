//! Layer 5, the roles a connection plays in a run: subscribers (one module
//! per transport), publishers, and the Autobahn client.

pub mod autobahn;
pub(crate) mod presence;
pub(crate) mod publish;
pub(crate) mod publish_bayeux;
pub(crate) mod ramp;
pub(crate) mod reconnect;
pub(crate) mod sampler;
pub(crate) mod subscribe;
