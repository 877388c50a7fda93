/* Exported wrappers for DPDK's static-inline functions and macros, which bindgen cannot bind. */
#ifndef DPDK_SHIM_H
#define DPDK_SHIM_H
#include <stdint.h>
#include <stdio.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

uint16_t shim_rte_eth_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t shim_rte_eth_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
struct rte_mbuf *shim_rte_pktmbuf_alloc(struct rte_mempool *mp);
int shim_rte_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs, unsigned count);
void shim_rte_pktmbuf_free(struct rte_mbuf *m);
void shim_rte_pktmbuf_free_bulk(struct rte_mbuf **mbufs, unsigned count);
void *shim_rte_pktmbuf_mtod(struct rte_mbuf *m);
uint16_t shim_rte_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t shim_rte_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t shim_rte_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t shim_rte_pktmbuf_tailroom(const struct rte_mbuf *m);
char *shim_rte_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *shim_rte_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int shim_rte_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
int shim_rte_pktmbuf_is_contiguous(const struct rte_mbuf *m);
uint32_t shim_rte_mbuf_rss_hash(const struct rte_mbuf *m);
uint64_t shim_rte_mbuf_ol_flags(const struct rte_mbuf *m);
unsigned shim_rte_ring_enqueue_burst(struct rte_ring *r, void *const *objs, unsigned n, unsigned *free_space);
unsigned shim_rte_ring_dequeue_burst(struct rte_ring *r, void **objs, unsigned n, unsigned *available);
unsigned shim_rte_ring_count(const struct rte_ring *r);
unsigned shim_rte_lcore_id(void);
uint64_t shim_rte_rdtsc(void);
int shim_rte_errno(void);
void shim_rte_pause(void);
/* Route DPDK's log stream to a callback with each message's level and type
 * (see dataplane/src/dpdk/log.rs). rte_vlog flushes after every message, so one call = one message. */
typedef void (*shim_log_cb)(uint32_t level, uint32_t logtype, const char *msg, size_t len);
int shim_rte_log_to_callback(shim_log_cb cb);


/* Values of DPDK macros bindgen cannot evaluate (built from RTE_BIT64 or casts). */
extern const int shim_SOCKET_ID_ANY;
extern const unsigned shim_RING_F_SP_ENQ;
extern const unsigned shim_RING_F_SC_DEQ;
extern const unsigned shim_RING_F_EXACT_SZ;
extern const uint64_t shim_RTE_ETH_RSS_IP;
extern const uint64_t shim_RTE_ETH_RSS_TCP;
extern const uint64_t shim_RTE_ETH_RSS_UDP;
extern const uint64_t shim_RTE_ETH_RX_OFFLOAD_TIMESTAMP;
#endif
