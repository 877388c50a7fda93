#define _GNU_SOURCE
/* Thin exported wrappers over DPDK static-inline functions. Kept trivial on purpose: each is one call. */
#include "shim.h"
#include <rte_ethdev.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_cycles.h>
#include <rte_log.h>
#include <rte_pause.h>

uint16_t shim_rte_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_rx_burst(port, queue, pkts, n);
}
uint16_t shim_rte_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_tx_burst(port, queue, pkts, n);
}
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp) { return rte_pktmbuf_alloc(mp); }
int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count) {
    return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}
void shim_rte_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }
void shim_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count) { rte_pktmbuf_free_bulk(mbufs, count); }
void *shim_rte_pktmbuf_mtod(struct rte_mbuf *m) { return rte_pktmbuf_mtod(m, void *); }
uint16_t shim_rte_pktmbuf_data_len(const struct rte_mbuf *m) { return m->data_len; }
uint32_t shim_rte_pktmbuf_pkt_len(const struct rte_mbuf *m) { return m->pkt_len; }
uint16_t shim_rte_pktmbuf_headroom(const struct rte_mbuf *m) { return rte_pktmbuf_headroom(m); }
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m) { return rte_pktmbuf_tailroom(m); }
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_append(m, len); }
char *shim_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_prepend(m, len); }
char *shim_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_adj(m, len); }
int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len) { return rte_pktmbuf_trim(m, len); }
int shim_rte_pktmbuf_is_contiguous(const struct rte_mbuf *m) { return rte_pktmbuf_is_contiguous(m); }
uint32_t shim_rte_mbuf_rss_hash(const struct rte_mbuf *m) { return m->hash.rss; }
uint64_t shim_rte_mbuf_ol_flags(const struct rte_mbuf *m) { return m->ol_flags; }
unsigned shim_rte_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n, unsigned *free_space) {
    return rte_ring_enqueue_burst(r, objs, n, free_space);
}
unsigned shim_rte_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n, unsigned *available) {
    return rte_ring_dequeue_burst(r, objs, n, available);
}
unsigned shim_rte_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }
unsigned shim_rte_lcore_id(void) { return rte_lcore_id(); }
uint64_t shim_rte_rdtsc(void) { return rte_rdtsc(); }
int shim_rte_errno(void) { return rte_errno; }
void shim_rte_pause(void) { rte_pause(); }

static shim_log_cb log_cb;

static ssize_t log_cookie_write(void *cookie, const char *buf, size_t size) {
    (void)cookie;
    if (log_cb != NULL)
        log_cb((uint32_t)rte_log_cur_msg_loglevel(), (uint32_t)rte_log_cur_msg_logtype(), buf, size);
    return (ssize_t)size;
}

int shim_rte_log_to_callback(shim_log_cb cb) {
    cookie_io_functions_t funcs = {.read = NULL, .write = log_cookie_write, .seek = NULL, .close = NULL};
    FILE *f = fopencookie(NULL, "w", funcs);
    if (f == NULL) return -1;
    log_cb = cb;
    return rte_openlog_stream(f);
}

const int shim_SOCKET_ID_ANY = SOCKET_ID_ANY;
const unsigned shim_RING_F_SP_ENQ = RING_F_SP_ENQ;
const unsigned shim_RING_F_SC_DEQ = RING_F_SC_DEQ;
const unsigned shim_RING_F_EXACT_SZ = RING_F_EXACT_SZ;
const uint64_t shim_RTE_ETH_RSS_IP = RTE_ETH_RSS_IP;
const uint64_t shim_RTE_ETH_RSS_TCP = RTE_ETH_RSS_TCP;
const uint64_t shim_RTE_ETH_RSS_UDP = RTE_ETH_RSS_UDP;
const uint64_t shim_RTE_ETH_RX_OFFLOAD_TIMESTAMP = RTE_ETH_RX_OFFLOAD_TIMESTAMP;
