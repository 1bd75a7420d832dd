//! The use cases behind the HTTP handlers, callable without HTTP: the handlers parse, check
//! who may do what and shape the answer; what happens to the store, the blobs and the runtime
//! is here (the reconciler builds its specs with the same code).

pub mod apps;
pub mod instances;
