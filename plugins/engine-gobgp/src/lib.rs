//! GoBGP engine: drives gobgpd 3.x over its gRPC API
