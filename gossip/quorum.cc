// QuorumView is header-only arithmetic; this unit anchors the module's static library.
#include "gossip/quorum.h"
