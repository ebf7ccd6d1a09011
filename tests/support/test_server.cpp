// SPDX-License-Identifier: MIT
// Small loopback HTTP servers for the tests of what pgrestify does when the server is NOT
// PostgREST (started by tests/integration/fixture.sh next to the real servers):
//
//   pgrestify_test_server echo PORTFILE     answers every request at once, by the first path segment:
//     /html/...     200 text/html, the page quotes the whole request (head and body)
//     /json/...     200 application/json, `[{"echo": "<the whole request>"}]`
//     /created/...  201 with no body and no Content-Range (a server that accepts anything)
//     /error/...    400 application/json, a PostgREST-shaped error whose message quotes the
//                   request head and whose details quote the body (a server echoing credentials)
//     anything else as /html
//   pgrestify_test_server silent PORTFILE   accepts connections and reads, never answers
//
// Listens on 127.0.0.1 on a free port, writes the port to PORTFILE, serves until killed.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

std::string jsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  return out + "\"";
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// One complete request at the front of @p buf: its head and body; false when incomplete.
bool takeRequest(std::string& buf, std::string& head, std::string& body) {
  auto end = buf.find("\r\n\r\n");
  if (end == std::string::npos) return false;
  head = buf.substr(0, end);
  std::size_t length = 0;
  bool chunked = false;
  std::string lowered = lower(head);
  if (auto p = lowered.find("\r\ncontent-length:"); p != std::string::npos) {
    length = std::strtoull(lowered.c_str() + p + 17, nullptr, 10);
  }
  if (lowered.find("\r\ntransfer-encoding: chunked") != std::string::npos) chunked = true;
  std::size_t start = end + 4;
  if (chunked) {
    auto last = buf.find("\r\n0\r\n\r\n", start > 2 ? start - 2 : 0);
    if (last == std::string::npos) return false;
    body = buf.substr(start, last - start);
    buf.erase(0, last + 7);
    return true;
  }
  if (buf.size() < start + length) return false;
  body = buf.substr(start, length);
  buf.erase(0, start + length);
  return true;
}

std::string answer(const std::string& head, const std::string& body) {
  std::string target;
  if (auto sp = head.find(' '); sp != std::string::npos) {
    auto sp2 = head.find(' ', sp + 1);
    target = head.substr(sp + 1, sp2 == std::string::npos ? std::string::npos : sp2 - sp - 1);
  }
  const std::string whole = head + "\r\n\r\n" + body;
  std::string status = "200 OK", type = "text/html; charset=utf-8", content;
  bool hasBody = true;
  if (target.rfind("/json", 0) == 0) {
    type = "application/json";
    content = "[{\"echo\":" + jsonString(whole) + "}]";
  } else if (target.rfind("/created", 0) == 0) {
    status = "201 Created";
    hasBody = false;
  } else if (target.rfind("/error", 0) == 0) {
    status = "400 Bad Request";
    type = "application/json";
    content =
        "{\"code\":\"XX000\",\"message\":" + jsonString(head) + ",\"details\":" + jsonString(body) + ",\"hint\":null}";
  } else {
    content = "<html><body><h1>Welcome</h1><pre>" + whole + "</pre></body></html>\n";
  }
  std::string out = "HTTP/1.1 " + status + "\r\nServer: pgrestify-test-echo\r\n";
  if (hasBody) out += "Content-Type: " + type + "\r\n";
  out += "Content-Length: " + std::to_string(content.size()) + "\r\n\r\n" + content;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "echo") != 0 && std::strcmp(argv[1], "silent") != 0)) {
    std::fprintf(stderr, "usage: pgrestify_test_server echo|silent PORTFILE\n");
    return 2;
  }
  const bool echo = std::strcmp(argv[1], "echo") == 0;
  int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listener, 128) != 0) {
    std::perror("pgrestify_test_server: bind/listen");
    return 1;
  }
  socklen_t len = sizeof addr;
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
  {
    std::string tmp = std::string(argv[2]) + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "w");
    if (!f) return 1;
    std::fprintf(f, "%d\n", ntohs(addr.sin_port));
    std::fclose(f);
    std::rename(tmp.c_str(), argv[2]);
  }
  std::map<int, std::string> buffers;
  std::map<int, std::string> pendingOut;
  for (;;) {
    std::vector<pollfd> fds;
    fds.push_back({listener, POLLIN, 0});
    for (const auto& [fd, buf] : buffers) {
      short events = POLLIN;
      if (!pendingOut[fd].empty()) events |= POLLOUT;
      fds.push_back({fd, events, 0});
    }
    if (::poll(fds.data(), fds.size(), 1000) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    for (const auto& p : fds) {
      if (!p.revents) continue;
      if (p.fd == listener) {
        int c = ::accept(listener, nullptr, nullptr);
        if (c >= 0) buffers[c];
        continue;
      }
      bool close = false;
      if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
        char chunk[65536];
        ssize_t n = ::read(p.fd, chunk, sizeof chunk);
        if (n <= 0) {
          close = true;
        } else if (echo) {
          auto& buf = buffers[p.fd];
          buf.append(chunk, static_cast<std::size_t>(n));
          std::string head, body;
          while (takeRequest(buf, head, body)) pendingOut[p.fd] += answer(head, body);
        }
      }
      if (!close && (p.revents & POLLOUT) && !pendingOut[p.fd].empty()) {
        auto& out = pendingOut[p.fd];
        ssize_t n = ::write(p.fd, out.data(), out.size());
        if (n < 0) {
          close = true;
        } else {
          out.erase(0, static_cast<std::size_t>(n));
        }
      }
      if (close) {
        ::close(p.fd);
        buffers.erase(p.fd);
        pendingOut.erase(p.fd);
      }
    }
  }
}
