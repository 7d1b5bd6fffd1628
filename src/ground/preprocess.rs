//! Model-grid pre-processing shared by the node and tools/train (placeholder until the
//! tools/train issue lands it).
