# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""An instance group's deploy and auto-healing policies in the shape of yc_instance_group's options, shared by
yc_instance_group and yc_instance_group_info so both read a group the same way.

An unset enum (0, *_UNSPECIFIED) reads as YC's documented default, so a group made without the option compares
equal to the option's default: minimal_action LIVE_UPDATE (en/compute/concepts/instance-groups/policies/
deploy-policy.md#minimal-action), auto_healing_action RESTART (.../policies/healing-policy.md), strategy
PROACTIVE (deploy-policy.md#strategy).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

try:
    from yandex.cloud.compute.v1.instancegroup import instance_group_pb2 as ig_pb2
except ImportError:
    pass  # YCModule reports the missing SDK

DEFAULT_STRATEGY = 'proactive'
DEFAULT_MINIMAL_ACTION = 'live_update'
DEFAULT_HEALING_ACTION = 'restart'


def _name(enum, number, default):
    return enum.Name(number).lower() if number else default


def deploy_policy_to_user(deploy):
    """DeployPolicy -> dict (durations in seconds, enums as the lower-case option values)."""
    return dict(max_unavailable=deploy.max_unavailable, max_expansion=deploy.max_expansion,
                max_creating=deploy.max_creating, max_deleting=deploy.max_deleting,
                startup_duration=deploy.startup_duration.seconds,
                strategy=_name(ig_pb2.DeployPolicy.Strategy, deploy.strategy, DEFAULT_STRATEGY),
                minimal_action=_name(ig_pb2.DeployPolicy.MinimalAction, deploy.minimal_action,
                                     DEFAULT_MINIMAL_ACTION))


def auto_healing_policy_to_user(group):
    """The auto_healing_policy of an InstanceGroup (or a Create/Update request); none set reads as the default."""
    action = group.auto_healing_policy.auto_healing_action if group.HasField('auto_healing_policy') else 0
    return dict(auto_healing_action=_name(ig_pb2.AutoHealingPolicy.AutoHealingAction, action,
                                          DEFAULT_HEALING_ACTION))


def deploy_policy_from_user(options, duration):
    """The module's deploy_policy option -> DeployPolicy (every enum set explicitly)."""
    return ig_pb2.DeployPolicy(
        max_unavailable=options['max_unavailable'], max_expansion=options['max_expansion'],
        max_creating=options['max_creating'], max_deleting=options['max_deleting'],
        startup_duration=duration(options['startup_duration']),
        strategy=ig_pb2.DeployPolicy.Strategy.Value(options['strategy'].upper()),
        minimal_action=ig_pb2.DeployPolicy.MinimalAction.Value(options['minimal_action'].upper()))


def auto_healing_policy_from_user(options):
    return ig_pb2.AutoHealingPolicy(
        auto_healing_action=ig_pb2.AutoHealingPolicy.AutoHealingAction.Value(options['auto_healing_action'].upper()))
