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
/* Route DPDK's log stream into a pipe the Rust side drains (see dataplane/src/dpdk/log.rs). */
int shim_rte_log_to_fd(int fd);
#endif
