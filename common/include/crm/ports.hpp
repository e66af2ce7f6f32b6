// TCP ports on the loopback interface: finding a free one, checking one.
#pragma once

namespace crm {

/// A port on 127.0.0.1 that nothing listens on right now, chosen below the kernel's ephemeral
/// range (ip_local_port_range) so that no outgoing connection or port-0 server is given it
/// meanwhile; the kernel's own pick when none is free there. Another process may still bind it
/// before the caller does. Throws RuntimeError.
int FreeLoopbackPort();

/// Whether 127.0.0.1:`port` can be bound now (SO_REUSEADDR, as our servers set, so a port in
/// TIME_WAIT counts as free). Throws RuntimeError when no socket can be created.
bool LoopbackPortFree(int port);

}  // namespace crm
