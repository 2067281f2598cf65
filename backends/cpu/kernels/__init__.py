"""CPU kernel generators: one function per `tfl` op (family), registered by op name."""
