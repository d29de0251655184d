#pragma once
/// \file
/// Forward declarations of exo's main names, for headers that only mention them.

#include <cstdint>

namespace exo {
struct id;
struct error;
class value;
struct cap_handle;
struct capability;
struct message;
class message_batch;
class cap_table;
class context;
struct failure;
struct actor_type;
struct config;
class container_registry;
class kernel;
class ordered_scheduler;
class fifo_scheduler;
template <class Scheduler>
  requires true
class hypervisor;
}  // namespace exo
