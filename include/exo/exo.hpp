#pragma once
/// \file
/// Everything exo offers, in one include.

#include <exo/container/context.hpp>
#include <exo/container/failure.hpp>
#include <exo/container/native.hpp>
#include <exo/core/bytes.hpp>
#include <exo/core/encoding.hpp>
#include <exo/core/error.hpp>
#include <exo/core/expected.hpp>
#include <exo/core/hash.hpp>
#include <exo/core/id.hpp>
#include <exo/core/reflect.hpp>
#include <exo/core/value.hpp>
#include <exo/hypervisor.hpp>
#include <exo/message/capability.hpp>
#include <exo/message/message.hpp>
#include <exo/port/cap_table.hpp>
#include <exo/scheduler/concept.hpp>
#include <exo/scheduler/fifo.hpp>
#include <exo/scheduler/ordered.hpp>
#include <exo/store/lmdb_store.hpp>
#include <exo/store/state.hpp>
#include <exo/store/tree.hpp>
