#pragma once
/// \file
/// Forward declarations of exo's main names, for headers that only mention them.
/// (exo::hypervisor is a template constrained by its policies' concepts: include
/// exo/hypervisor.hpp to name it.)

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
class ingress;
class service;
class log_reader;
class log_writer;
class state_tree;
class memory_store;
class lmdb_store;
class ordered_scheduler;
class fifo_scheduler;
}  // namespace exo
