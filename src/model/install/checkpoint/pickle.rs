//! A small, strictly validating reader for the pickle `torch.save` writes for a state dict.
//! Nothing is ever executed: the few globals a state dict needs are recognised by name and
//! everything else is refused, naming the opcode or global.
