// cursor.cpp: Cursor, which produces a Conversion's output chunk by chunk. Copy and Literal pieces go straight
// into the caller's buffer; encoded pieces are encoded one input block at a time into a small pending buffer
// (at most one block's encoding, about 13 KiB), so the converted message never exists whole in memory.
// Threads: a Cursor is one thread's; the Conversion it reads is immutable and may be shared.
#include <algorithm>
#include <cstring>

#include "engine/mime/mime.hpp"

namespace sluice::mime {

namespace {
constexpr std::size_t kBlock = 3 * 1024;  // input octets encoded per step (a multiple of 3 keeps base64 simple)
}  // namespace

Cursor::Cursor(std::shared_ptr<const Conversion> plan) : plan_(std::move(plan)) {}

bool Cursor::done() const {
  return pendingOff_ >= pending_.size() && (plan_ == nullptr || piece_ >= plan_->pieces().size());
}

void Cursor::nextPiece() {
  ++piece_;
  inPos_ = 0;
  flushed_ = false;
  qp_ = QuotedPrintableEncoder();
  b64_ = Base64Encoder();
  requote_ = QuotedPrintableRequoter();
  rewrap_ = Base64Rewrapper();
}

std::size_t Cursor::read(char* out, std::size_t max) {
  std::size_t n = 0;
  if (plan_ == nullptr) return 0;
  const std::vector<Piece>& pieces = plan_->pieces();
  while (n < max) {
    if (pendingOff_ < pending_.size()) {
      const std::size_t k = std::min(max - n, pending_.size() - pendingOff_);
      std::memcpy(out + n, pending_.data() + pendingOff_, k);
      pendingOff_ += k;
      n += k;
      continue;
    }
    if (piece_ >= pieces.size()) break;
    const Piece& p = pieces[piece_];
    if (p.kind == Piece::Kind::Copy || p.kind == Piece::Kind::Literal) {
      const std::string_view src = p.kind == Piece::Kind::Copy ? p.input : std::string_view(p.literal);
      if (inPos_ >= src.size()) {
        nextPiece();
        continue;
      }
      const std::size_t k = std::min<std::uint64_t>(max - n, src.size() - inPos_);
      std::memcpy(out + n, src.data() + inPos_, k);
      inPos_ += k;
      n += k;
      continue;
    }
    if (flushed_) {
      nextPiece();
      continue;
    }
    const std::size_t k = std::min<std::uint64_t>(kBlock, p.input.size() - inPos_);
    const bool last = inPos_ + k == p.input.size();
    pending_.clear();
    pendingOff_ = 0;
    const std::string_view block = p.input.substr(inPos_, k);
    switch (p.kind) {
      case Piece::Kind::QuotedPrintable: qp_.encode(block, last, pending_); break;
      case Piece::Kind::Requote: requote_.encode(block, last, pending_); break;
      case Piece::Kind::Rewrap64: rewrap_.encode(block, last, pending_); break;
      default: b64_.encode(block, last, pending_); break;
    }
    inPos_ += k;
    flushed_ = last;
  }
  return n;
}

}  // namespace sluice::mime
