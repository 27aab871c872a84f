//! BIRD 1.6 / 2.x engine: render, check, atomic replace, configure over the control socket, observe
