/* The service manager's side of `watch`: sd_notify-style datagrams to
 * $NOTIFY_SOCKET, written here (no libsystemd): READY=1 once watching,
 * WATCHDOG=1 after scans (at most every half $WATCHDOG_USEC, so a watcher
 * whose loop is stuck stops sending them and systemd restarts it), STOPPING=1
 * at the end. Without $NOTIFY_SOCKET every call does nothing. */
#ifndef PYH_WATCH_NOTIFY_H
#define PYH_WATCH_NOTIFY_H
#include <stdint.h>

/* Read $NOTIFY_SOCKET and $WATCHDOG_USEC (honouring $WATCHDOG_PID). */
void pyh_notify_init(void);
void pyh_notify_ready(void);
/* A scan ended at now_ms (monotonic): send WATCHDOG=1 when one is due. */
void pyh_notify_alive(uint64_t now_ms);
void pyh_notify_stopping(void);
/* Keep-alives sent so far (tests, verbose output). */
uint64_t pyh_notify_sent(void);
#endif
