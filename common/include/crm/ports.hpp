// TCP ports on the loopback interface: finding a free one, checking one.
#pragma once

namespace crm {

/// A port on 127.0.0.1 that nothing listens on right now (the kernel picks it for a throwaway
/// socket). Another process may take it before the caller binds it. Throws RuntimeError.
int FreeLoopbackPort();

/// Whether 127.0.0.1:`port` can be bound now (SO_REUSEADDR, as our servers set, so a port in
/// TIME_WAIT counts as free). Throws RuntimeError when no socket can be created.
bool LoopbackPortFree(int port);

}  // namespace crm
