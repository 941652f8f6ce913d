# -*- coding: utf-8 -*-
# Copyright: filmopoisk.shs contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Runs the yc_iam_token module and hides its result as no_log does: the result is a credential, and a module
cannot mark its own return values no_log. A registered variable still holds the token."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.plugins.action import ActionBase


class ActionModule(ActionBase):

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        result.update(self._execute_module(module_args=self._task.args, task_vars=task_vars))
        # A failure keeps its message (the credentials in it are masked by the module's no_log options).
        if not result.get('failed'):
            result['_ansible_no_log'] = True
        return result
