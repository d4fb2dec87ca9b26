// ares_source.cpp: c-ares on the libuv loop (uv_poll per socket via the socket-state callback, one uv_timer for
// ares_timeout), with replies parsed by dns_message so TTLs, SOA minimum and NXDOMAIN/NODATA survive.
#include "resolver/ares_source.hpp"

#include <cstring>
#include <mutex>

namespace sluice::resolver {

struct AresSource::Poll {
  uv_poll_t handle;
  AresSource* owner;
  ares_socket_t fd;
};

struct AresSource::Timer {
  uv_timer_t handle;
  AresSource* owner;
};

struct AresSource::Query {
  AresSource* owner;
  Callback cb;
  std::string name;
  QType type;
};

namespace {

// Frees a heap-allocated handle wrapper once libuv is done with it.
template <class T>
void closeAndFree(T* wrapper) {
  uv_close(reinterpret_cast<uv_handle_t*>(&wrapper->handle),
           [](uv_handle_t* h) { delete static_cast<T*>(h->data); });
}

// Maps a c-ares status without a reply buffer to an answer.
DnsAnswer fromStatus(int status) {
  DnsAnswer a;
  switch (status) {
    case ARES_ENOTFOUND: a.status = DnsStatus::NxDomain; break;
    case ARES_ENODATA: a.status = DnsStatus::NoData; break;
    case ARES_ETIMEOUT: a.status = DnsStatus::Timeout; break;
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_ENOTIMP: a.status = DnsStatus::ServFail; break;
    case ARES_EBADRESP:
    case ARES_EFORMERR: a.status = DnsStatus::Malformed; break;
    default: a.status = DnsStatus::Error; break;
  }
  a.detail = ares_strerror(status);
  return a;
}

}  // namespace

// Stores the loop and prepares the deferral queue; the channel is made by create().
AresSource::AresSource(uv_loop_t* loop) : loop_(loop), defer_(loop) {}

// Channel options that shut out every system source of configuration, then the explicit server list.
std::unique_ptr<AresSource> AresSource::create(uv_loop_t* loop, const std::vector<Endpoint>& nameservers,
                                               int timeoutMs, int tries, std::string& error) {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  if (nameservers.empty()) {
    error = "no nameservers configured";
    return nullptr;
  }
  std::unique_ptr<AresSource> src(new AresSource(loop));
  ares_options opts;
  std::memset(&opts, 0, sizeof opts);
  char lookups[] = "b";
  char noResolvConf[] = "/dev/null";
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  opts.timeout = timeoutMs;
  opts.tries = tries;
  opts.ndots = 1;
  opts.servers = nullptr;
  opts.nservers = 0;
  opts.domains = nullptr;
  opts.ndomains = 0;
  opts.lookups = lookups;
  opts.sock_state_cb = &AresSource::onSockState;
  opts.sock_state_cb_data = src.get();
  opts.resolvconf_path = noResolvConf;
  const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_NDOTS | ARES_OPT_SERVERS |
                   ARES_OPT_DOMAINS | ARES_OPT_LOOKUPS | ARES_OPT_SOCK_STATE_CB | ARES_OPT_RESOLVCONF;
  int rc = ares_init_options(&src->channel_, &opts, mask);
  if (rc != ARES_SUCCESS) {
    error = std::string("c-ares init: ") + ares_strerror(rc);
    src->channel_ = nullptr;
    return nullptr;
  }
  std::vector<ares_addr_port_node> nodes(nameservers.size());
  for (std::size_t i = 0; i < nameservers.size(); ++i) {
    const Endpoint& ns = nameservers[i];
    ares_addr_port_node& n = nodes[i];
    std::memset(&n, 0, sizeof n);
    n.next = i + 1 < nodes.size() ? &nodes[i + 1] : nullptr;
    n.family = ns.ip->family == Family::V4 ? AF_INET : AF_INET6;
    if (n.family == AF_INET) std::memcpy(&n.addr.addr4, ns.ip->bytes.data(), 4);
    else std::memcpy(&n.addr.addr6, ns.ip->bytes.data(), 16);
    n.udp_port = ns.port;
    n.tcp_port = ns.port;
  }
  rc = ares_set_servers_ports(src->channel_, nodes.data());
  if (rc != ARES_SUCCESS) {
    error = std::string("c-ares servers: ") + ares_strerror(rc);
    return nullptr;
  }
  src->timer_ = new Timer{{}, src.get()};
  uv_timer_init(loop, &src->timer_->handle);
  src->timer_->handle.data = src->timer_;
  return src;
}

// ares_destroy ends every query (our callbacks drop them) and reports its sockets closed; then close handles.
AresSource::~AresSource() {
  destroying_ = true;
  if (channel_ != nullptr) ares_destroy(channel_);
  for (auto& [fd, poll] : polls_) {
    uv_poll_stop(&poll->handle);
    closeAndFree(poll);
  }
  polls_.clear();
  if (timer_ != nullptr) closeAndFree(timer_);
}

// Hands the query to c-ares; answers produced synchronously (local errors) are deferred by onAnswer.
void AresSource::query(const std::string& name, QType type, Callback cb) {
  if (type == QType::MX) ++mx_;
  if (type == QType::A) ++a_;
  if (type == QType::AAAA) ++aaaa_;
  auto* q = new Query{this, std::move(cb), name, type};
  submitting_ = true;
  ares_query(channel_, name.c_str(), 1 /* class IN */, static_cast<int>(type), &AresSource::onAnswer, q);
  submitting_ = false;
  rearmTimer();
}

// Per-type counter.
std::uint64_t AresSource::queriesSent(QType type) const {
  return type == QType::MX ? mx_ : type == QType::A ? a_ : type == QType::AAAA ? aaaa_ : 0;
}

// Reads the server list back from the channel.
std::vector<std::string> AresSource::channelServers() const {
  std::vector<std::string> out;
  ares_addr_port_node* list = nullptr;
  if (ares_get_servers_ports(channel_, &list) != ARES_SUCCESS) return out;
  for (const ares_addr_port_node* n = list; n != nullptr; n = n->next) {
    Endpoint ep;
    IpAddress ip;
    ip.family = n->family == AF_INET ? Family::V4 : Family::V6;
    std::memcpy(ip.bytes.data(), &n->addr, n->family == AF_INET ? 4 : 16);
    ep.ip = ip;
    ep.host = ip.toString();
    ep.port = static_cast<std::uint16_t>(n->udp_port);
    out.push_back(ep.toString());
  }
  ares_free_data(list);
  return out;
}

// Parses the raw reply when there is one (it carries TTLs and SOA), else maps the status.
void AresSource::onAnswer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
  std::unique_ptr<Query> q(static_cast<Query*>(arg));
  AresSource* self = q->owner;
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED || self->destroying_) return;
  DnsAnswer answer = abuf != nullptr && alen > 0
                         ? parseReply(abuf, static_cast<std::size_t>(alen), q->name, q->type)
                         : fromStatus(status);
  if (self->submitting_) {
    self->defer_.post([cb = std::move(q->cb), answer = std::move(answer)]() mutable { cb(std::move(answer)); });
    return;
  }
  q->cb(std::move(answer));
}

// c-ares opened, changed or closed a socket: start, update or close its uv_poll.
void AresSource::onSockState(void* data, ares_socket_t fd, int readable, int writable) {
  auto* self = static_cast<AresSource*>(data);
  auto it = self->polls_.find(fd);
  if (!readable && !writable) {
    if (it == self->polls_.end()) return;
    uv_poll_stop(&it->second->handle);
    closeAndFree(it->second);
    self->polls_.erase(it);
    return;
  }
  Poll* poll = nullptr;
  if (it == self->polls_.end()) {
    poll = new Poll{{}, self, fd};
    if (uv_poll_init_socket(self->loop_, &poll->handle, fd) != 0) {
      delete poll;  // c-ares will time the query out; nothing else can be done without the socket
      return;
    }
    poll->handle.data = poll;
    self->polls_.emplace(fd, poll);
  } else {
    poll = it->second;
  }
  const int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
  uv_poll_start(&poll->handle, events, &AresSource::onPoll);
}

// Socket ready (or in error): let c-ares read/write it, then re-arm the timeout.
void AresSource::onPoll(uv_poll_t* handle, int status, int events) {
  auto* poll = static_cast<Poll*>(handle->data);
  AresSource* self = poll->owner;
  const ares_socket_t fd = poll->fd;
  ares_socket_t readFd = ARES_SOCKET_BAD, writeFd = ARES_SOCKET_BAD;
  if (status < 0) {
    readFd = writeFd = fd;  // let c-ares find the error on the socket
  } else {
    if (events & UV_READABLE) readFd = fd;
    if (events & UV_WRITABLE) writeFd = fd;
  }
  ares_process_fd(self->channel_, readFd, writeFd);
  self->rearmTimer();
}

// c-ares' next retransmission/timeout is due.
void AresSource::onTimer(uv_timer_t* handle) {
  AresSource* self = static_cast<Timer*>(handle->data)->owner;
  ares_process_fd(self->channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
  self->rearmTimer();
}

// Starts the timer for ares_timeout(), or stops it when nothing is pending.
void AresSource::rearmTimer() {
  timeval tv{};
  timeval* next = ares_timeout(channel_, nullptr, &tv);
  if (next == nullptr) {
    uv_timer_stop(&timer_->handle);
    return;
  }
  const std::uint64_t ms = static_cast<std::uint64_t>(next->tv_sec) * 1000 +
                           static_cast<std::uint64_t>((next->tv_usec + 999) / 1000);
  uv_timer_start(&timer_->handle, &AresSource::onTimer, ms, 0);
}

}  // namespace sluice::resolver
