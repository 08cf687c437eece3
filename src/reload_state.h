/* reload_state.h - the outcome of each reload, published for
 * `mthttpd --reload` (systemd's ExecReload=), so that `systemctl reload`
 * returns only once the new configuration serves or was rejected.
 *
 * systemd 252 has no Type=notify-reload, and `kill -HUP $MAINPID` returns
 * before the daemon has even read the file.  So the daemon keeps a small
 * file, DIR/reload (DIR: $RUNTIME_DIRECTORY, /run/mthttpd under the unit's
 * RuntimeDirectory=), replaced atomically (rename) after every SIGHUP once
 * the new site is published or the file rejected:
 *
 *   <pid> <generation> ok|rejected\n<message>\n
 *
 * The generation counts the SIGHUPs handled since start (0: started).  The
 * client reads the generation, sends SIGHUP and waits for a higher one.
 * Signals that arrive during a reload coalesce into one more reload, so
 * the answer the client sees is at worst that of a reload which started
 * after the configuration file was written: the one its signal caused or
 * a later one.  systemd runs one ExecReload= at a time per unit. */
#ifndef MTH_RELOAD_STATE_H
#define MTH_RELOAD_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The directory from $RUNTIME_DIRECTORY (its first entry), NULL if unset. */
const char *reload_state_dir(void);

/* Publish the outcome of generation GEN of this process in DIR/reload.
 * MSG: the error when rejected, or what was loaded.  0 or -errno. */
int reload_state_publish(const char *dir, uint64_t gen, bool ok, const char *msg);

struct reload_state {
	pid_t pid;
	uint64_t gen;
	bool ok;
	char msg[512];
};

/* Parse DIR/reload.  0, -ENOENT, or -EBADMSG when malformed. */
int reload_state_read(const char *dir, struct reload_state *st);

/* The client: signal the daemon that published DIR/reload (it must be
 * PID when PID > 0, e.g. systemd's $MAINPID) and wait up to TIMEOUT_MS for
 * the outcome.  0: reloaded; -ECANCELED: rejected (the daemon's message in
 * MSG); -ETIMEDOUT; -ESRCH: no such daemon; other -errno.  MSG always says
 * what happened. */
int reload_state_request(const char *dir, pid_t pid, int timeout_ms, char *msg, size_t cap);

#endif
